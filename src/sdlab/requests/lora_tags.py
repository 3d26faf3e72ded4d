"""A1111's LoRA prompt tags, `<lora:NAME>` and `<lora:NAME:WEIGHT>`, read strictly.

A tag names a file in the LoRA folder (never a path: a prompt may come from an untrusted
image's metadata), and its weight is a number between -10 and 10, as `--lora` takes. A tag
that breaks these rules is an error, never silently weight 1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_WEIGHT = 10.0
TAG = re.compile(r"<lora:([^<>]*)>")


@dataclass(frozen=True)
class LoraTag:
    name: str
    weight: float


def check_weight(weight: float) -> float:
    """A LoRA weight as every front end takes it: finite, between -10 and 10 (0 turns the LoRA off)."""
    if not (math.isfinite(weight) and -MAX_WEIGHT <= weight <= MAX_WEIGHT):
        raise ValueError(f"must be between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}, got {weight}")
    return weight


def check_name(name: str) -> str:
    """A LoRA name as a tag may give it: a file name in the LoRA folder, with or without .safetensors."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"{name!r} is not a LoRA name; tags name a file in the LoRA folder (--lora-dir), not a path")
    return name


def parse_tag(body: str) -> LoraTag:
    """The inside of one tag (`NAME` or `NAME:WEIGHT`); ValueError says what is wrong with it."""
    fields = [field.strip() for field in body.split(":")]
    if len(fields) > 2:
        raise ValueError(f"<lora:{body}> has {len(fields)} fields; give <lora:NAME> or <lora:NAME:WEIGHT> "
                         "(separate text-encoder and UNet weights are not supported)")
    name = check_name(fields[0])
    weight = 1.0
    if len(fields) == 2:
        try:
            weight = float(fields[1])
        except ValueError:
            raise ValueError(f"<lora:{body}>: weight {fields[1]!r} is not a number") from None
        try:
            check_weight(weight)
        except ValueError as exc:
            raise ValueError(f"<lora:{body}>: weight {exc}") from None
    return LoraTag(name, weight)


def split_tags(prompt: str) -> tuple[str, list[LoraTag]]:
    """The prompt without its tags (what the text encoder sees) and the tags; ValueError for a bad tag."""
    tags = [parse_tag(match.group(1)) for match in TAG.finditer(prompt)]
    rest = TAG.sub(" ", prompt)
    if "<lora:" in rest:  # an unclosed tag, or one with < or > inside: refused, not drawn as words
        start = rest.index("<lora:")
        raise ValueError(f"{rest[start:start + 40]!r} is not a whole tag; write <lora:NAME> or <lora:NAME:WEIGHT>, "
                         "closed with '>' and without < or > inside")
    return re.sub(r" {2,}", " ", rest).strip(), tags
