"""Sweep axes: which request parameter varies and over which values, written as `NAME=VALUES`.

VALUES is a comma list (`cfg=1,3,5,7.5`), or a range as A1111's X/Y plot writes it: `1-9 (+2)`
(step) or `1-10 [4]` (count). `prompt=red,blue,green` is A1111's Prompt S/R: the first value is
searched in the prompt and each value replaces it in turn.

The latent-space walks are axes too: `variation-strength=0-1 [9]` moves the seed's noise to the
variation seed's along the sphere, `blend=0-1 [9]` moves the prompt's embedding to --blend-prompt's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sdlab.errors import UsageError

#: Axis name -> (request field, value type, title); aliases map onto these names.
PARAMETERS = {
    "cfg": ("cfg", float, "CFG scale"), "steps": ("steps", int, "Steps"), "sampler": ("sampler", str, "Sampler"),
    "schedule": ("schedule", str, "Schedule type"), "seed": ("seed", int, "Seed"),
    "strength": ("strength", float, "Denoising strength"), "size": ("size", str, "Size"),
    "lora-weight": ("loras", float, "LoRA weight"), "prompt": ("prompt", str, "Prompt S/R"),
    "negative": ("negative_prompt", str, "Negative prompt"),
    "variation-strength": ("variation_strength", float, "Variation strength"),
    "variation-seed": ("variation_seed", int, "Variation seed"), "blend": ("blend", float, "Prompt blend"),
}
ALIASES = {"guidance": "cfg", "cfg-scale": "cfg", "denoising": "strength", "lora": "lora-weight",
           "prompt-sr": "prompt", "sr": "prompt", "negative-prompt": "negative", "subseed-strength": "variation-strength",
           "var-strength": "variation-strength", "subseed": "variation-seed", "var-seed": "variation-seed",
           "prompt-blend": "blend"}
_STEP = re.compile(r"^\s*([-+]?\d*\.?\d+)\s*-\s*([-+]?\d*\.?\d+)\s*\(\s*([-+]?\d*\.?\d+)\s*\)\s*$")
_COUNT = re.compile(r"^\s*([-+]?\d*\.?\d+)\s*-\s*([-+]?\d*\.?\d+)\s*\[\s*(\d+)\s*\]\s*$")


#: The most values one axis may list (a grid is further limited by --max-cells).
MAX_VALUES = 10_000


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[Any, ...]
    heading: str | None = None  # the title of an axis that is not a request parameter (a LoRA rank, training steps)
    option: str = "axis"  # the option that gave it (-x, -y), for errors

    @property
    def title(self) -> str:
        return self.heading or PARAMETERS[self.name][2]

    def label(self, value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)


def _numbers(text: str, kind: type, option: str) -> list:
    if (m := _STEP.match(text)) is not None:
        start, end, step = (float(g) for g in m.groups())
        if step == 0 or (end - start) * step < 0:
            raise UsageError(option, f"range {text!r} never reaches its end; give a step towards it")
        count = int(round((end - start) / step)) + 1
        _check_count(count, text, option)
        values = [start + i * step for i in range(count)]
    elif (m := _COUNT.match(text)) is not None:
        start, end, count = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if count < 1:
            raise UsageError(option, f"range {text!r} asks for no values")
        _check_count(count, text, option)
        values = [start + (end - start) * i / max(1, count - 1) for i in range(count)]
    else:
        return []
    return [round(v) if kind is int else round(v, 6) for v in values]


def _check_count(count: int, text: str, option: str) -> None:
    if count > MAX_VALUES:
        raise UsageError(option, f"range {text!r} gives {count} values; at most {MAX_VALUES}")


def parse_axis(spec: str, option: str = "axis") -> Axis:
    """`NAME=VALUES` -> Axis; unknown names list the valid ones, empty values are refused (errors name `option`)."""
    name, sep, text = spec.partition("=")
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if not sep or key not in PARAMETERS:
        raise UsageError(option, f"{spec!r} is not NAME=VALUES with a known NAME; valid: {', '.join(PARAMETERS)} "
                         f"(aliases: {', '.join(ALIASES)})")
    kind = PARAMETERS[key][1]
    values = _numbers(text, kind, option) if kind is not str else []
    if not values:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise UsageError(option, f"{name}: empty value in {text!r}; give a comma list or a range like 1-9 (+2)")
        if len(parts) > MAX_VALUES:
            raise UsageError(option, f"{name}: {len(parts)} values; at most {MAX_VALUES}")
        try:
            values = [kind(p) for p in parts]
        except ValueError:
            raise UsageError(option, f"{name}: {text!r} are not {kind.__name__} values") from None
    if key == "prompt" and len(values) < 2:
        raise UsageError(option, "prompt: Prompt S/R needs the searched text and at least one replacement")
    if len(set(values)) < len(values):
        raise UsageError(option, f"{name}: a value is listed twice; each cell must differ")
    return Axis(key, tuple(values), option=option)


def apply(fields: dict, axis: Axis, value: Any) -> dict:
    """The request fields of one cell: `fields` with the axis' parameter set to `value`."""
    out = dict(fields)
    if axis.name == "prompt":
        search = axis.values[0]
        if search not in fields.get("prompt", ""):
            raise UsageError(axis.option, f"prompt: the searched text {search!r} is not in the prompt")
        out["prompt"] = fields["prompt"].replace(search, value)
    elif axis.name == "size":
        width, _, height = str(value).lower().partition("x")
        try:
            out["width"], out["height"] = int(width), int(height or width)
        except ValueError:
            raise UsageError(axis.option, f"size: {value!r} is not N or WxH") from None
    elif axis.name == "lora-weight":
        loras = list(fields.get("loras") or [])
        if not loras:
            raise UsageError(axis.option, "lora-weight: the request has no --lora to weigh")
        out["loras"] = [{**dict(loras[0]), "weight": value}, *loras[1:]]
    elif axis.name == "blend" and fields.get("blend_prompt") is None:
        raise UsageError(axis.option, "blend: the request has no --blend-prompt to move towards")
    else:
        out[PARAMETERS[axis.name][0]] = value
    return out
