"""AUTOMATIC1111's "infotext": the `parameters` PNG text chunk, written and parsed.

Layout: the prompt (may span lines), then `Negative prompt: ...` (may span
lines), then one line of `Key: value` pairs separated by ", ". A value holding
`,`, `:` or a newline is written as a JSON string.
"""

from __future__ import annotations

import json
import re
from typing import Any

NEGATIVE = "Negative prompt:"
#: One `Key: value` pair of the last line; a value is a JSON string or runs to the next comma.
PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def quote(value: Any) -> str:
    """A value as A1111 writes it: plain, or JSON-quoted when it holds `,` `:` or a newline."""
    text = str(value)
    if "," in text or ":" in text or "\n" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def format_number(value: float) -> str:
    """7.0 -> "7", 7.5 -> "7.5" (as A1111 prints CFG scale and strengths)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def format_infotext(prompt: str, negative: str, params: dict[str, Any]) -> str:
    """Write prompt, negative prompt and parameters (None values left out) as one infotext."""
    line = ", ".join(f"{key}: {quote(value)}" for key, value in params.items() if value is not None)
    negative_line = f"\n{NEGATIVE} {negative}" if negative else ""
    return f"{prompt}{negative_line}\n{line}".strip("\n") if line else f"{prompt}{negative_line}"


def parse_infotext(text: str) -> dict[str, Any]:
    """Parse an infotext into {"Prompt", "Negative prompt", key: value, ...}; "Size" also gives Size-1/Size-2."""
    lines = text.strip().split("\n")
    params: dict[str, Any] = {}
    if lines and len(PARAM.findall(lines[-1])) >= 3:
        for key, value in PARAM.findall(lines.pop()):
            params[key.strip()] = unquote(value.strip())
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines:
        if line.startswith(NEGATIVE):
            in_negative = True
            line = line[len(NEGATIVE):].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    result: dict[str, Any] = {"Prompt": "\n".join(prompt_lines), "Negative prompt": "\n".join(negative_lines)}
    result.update(params)
    size = params.get("Size")
    if isinstance(size, str) and re.fullmatch(r"\d+x\d+", size):
        result["Size-1"], result["Size-2"] = (int(n) for n in size.split("x"))
    return result
