"""AUTOMATIC1111's "infotext": the `parameters` PNG text chunk, written and parsed, and turned back into a request.

Layout: the prompt (may span lines), then `Negative prompt: ...` (may span lines), then one
line of `Key: value` pairs separated by ", ". A value holding `,`, `:`, a newline, a
leading quote or surrounding white space is written as a JSON string. What sdlab writes it
reads back identically (requests refuse a prompt line that starts with `Negative prompt:`,
the one thing the layout cannot tell apart).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sdlab import __version__
from sdlab.errors import UsageError
from sdlab.requests.result import Resolved

NEGATIVE = "Negative prompt:"
#: One `Key: value` pair of the last line; a value is a JSON string or runs to the next comma.
PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
#: Infotext keys and the request fields they set when a request is rebuilt from an image.
REQUEST_KEYS = {"Steps": ("steps", int), "CFG scale": ("cfg", float), "Seed": ("seed", int),
                "Sampler": ("sampler", str), "Denoising strength": ("strength", float), "Mask blur": ("mask_blur", int),
                "Variation seed": ("variation_seed", int), "Variation seed strength": ("variation_strength", float),
                "Blend prompt": ("blend_prompt", str), "Blend weight": ("blend", float)}
#: Fields that only some tasks take (an img2img image's strength means nothing to a text-to-image re-run).
TASK_FIELDS = {"strength": ("img2img", "inpaint"), "mask_blur": ("inpaint",),
               "variation_seed": ("txt2img",), "variation_strength": ("txt2img",)}


def quote(value: Any) -> str:
    """A value as A1111 writes it: plain, or JSON-quoted when plain text would not read back the same."""
    text = str(value)
    if "," in text or ":" in text or "\n" in text or text.startswith('"') or text != text.strip():
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
    """7.0 -> "7", 7.5 -> "7.5" (as A1111 prints CFG scale and strengths); exact, so it reads back the same."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


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
        if not in_negative and line.startswith(NEGATIVE):
            in_negative = True
            line = line[len(NEGATIVE):].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    result: dict[str, Any] = {"Prompt": "\n".join(prompt_lines), "Negative prompt": "\n".join(negative_lines)}
    result.update(params)
    size = params.get("Size")
    if isinstance(size, str) and re.fullmatch(r"\d{1,5}x\d{1,5}", size):
        result["Size-1"], result["Size-2"] = (int(n) for n in size.split("x"))
    return result


def infotext_params(resolved: Resolved, index: int) -> dict:
    """The parameter line of A1111's infotext for image `index` of a request (settings that do not apply left out)."""
    params = {
        "Steps": resolved.steps,
        "Sampler": resolved.sampler,
        "CFG scale": format_number(resolved.cfg),
        "Seed": resolved.seed_for(index),
        "Size": f"{resolved.width}x{resolved.height}",
        "Model hash": resolved.model_hash or None,
        "Model": resolved.model_name,
        "Variation seed": resolved.variation_seed_for(index),
        "Variation seed strength": format_number(resolved.variation_strength) if resolved.variation_strength else None,
        "Denoising strength": format_number(resolved.strength) if resolved.strength is not None else None,
        "Mask blur": resolved.mask_blur,
        "Inpaint area": "Only masked" if resolved.inpaint_only_masked else None,
        "Masked area padding": resolved.inpaint_padding,
        "Blend prompt": resolved.blend_prompt,
        "Blend weight": format_number(resolved.blend) if resolved.blend is not None else None,
        "Lora hashes": ", ".join(f"{name}: {short}" for name, short, _ in resolved.loras) or None,
        "Version": f"sdlab {__version__}",
    }
    return {key: value for key, value in params.items() if value is not None}


def request_fields(text: str, argument: str = "from", task: str = "txt2img") -> dict[str, Any]:
    """The request fields an infotext records (sdlab's or A1111's own) that apply to `task`, to run its image again.

    Values are checked when the request is built; a value that is not even a number is refused here,
    naming `argument` (the option that gave the image)."""
    info = parse_infotext(text)
    fields: dict[str, Any] = {"prompt": info["Prompt"], "negative_prompt": info["Negative prompt"]}
    for key, (name, cast) in REQUEST_KEYS.items():
        if key in info and task in TASK_FIELDS.get(name, (task,)):
            try:
                fields[name] = cast(info[key])
            except ValueError:
                raise UsageError(argument, f"its {key} {info[key]!r} is not a number") from None
    if info.get("Schedule type") and info["Schedule type"].lower() != "automatic":
        fields["schedule"] = info["Schedule type"]
    if "Size-1" in info:
        fields["width"], fields["height"] = info["Size-1"], info["Size-2"]
    if info.get("Model") == "sdlab-shapes":
        fields["model"] = None
    return fields
