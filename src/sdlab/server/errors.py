"""How sdlab's errors travel over HTTP: one status per kind of error, and sdlab's JSON error body.

The library's errors say what was wrong and which field; here each kind gets its HTTP status, so the job
API, the A1111 routes and the OpenAI routes answer the same error with the same status (each in its
own JSON shape).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from sdlab.errors import QueueFull, SdlabError, UsageError


class NotFound(SdlabError):
    """A job or image that does not exist."""

    http_status = 404


class TooLarge(UsageError):
    """A request body over the server's limit."""

    http_status = 413


def http_status(exc: SdlabError) -> int:
    """400 for bad input, 404/413/429 for their kinds, 500 for a run that failed on the server's side."""
    if isinstance(exc, QueueFull):
        return 429
    return getattr(exc, "http_status", 400 if exc.exit_code == 2 else 500)


def retry_headers(exc: SdlabError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFull) else {}


def error_response(status: int, message: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    """sdlab's error body: `{"error": {"field": ..., "message": ...}}`."""
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status, headers=headers)
