"""The API key: `Authorization: Bearer KEY`, or HTTP Basic with the key as the password (A1111 clients send
user:pass), compared in constant time. Without a key every request passes, even with an empty header
(Open WebUI sends `Basic ` with nothing after it)."""

from __future__ import annotations

import base64
import binascii
import hmac


def authorized(header: str | None, api_key: str | None) -> bool:
    if not api_key:
        return True
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        offered = value.strip()
    elif scheme.lower() == "basic":
        try:
            offered = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
    else:
        return False
    return hmac.compare_digest(offered.encode(), api_key.encode())
