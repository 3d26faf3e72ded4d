"""What a LoRA file is, read from its safetensors header alone: format, rank, base model, trigger words."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from sdlab.engine.formats import FileFormat, detect_format, safetensors_header
from sdlab.errors import SdlabError


@dataclass(frozen=True)
class LoraInfo:
    name: str
    format: str  # kohya, diffusers, peft, unknown
    rank: int | None
    base: str  # from ss_base_model_version / modelspec.architecture, else guessed from the keys
    triggers: tuple[str, ...]
    path: str

    def as_dict(self) -> dict:
        return asdict(self)


def describe(path: Path) -> LoraInfo:
    """Read the header (no tensors) of a LoRA file and describe it."""
    if detect_format(path) is not FileFormat.safetensors:
        return LoraInfo(path.stem, "not safetensors", None, "unknown", (), str(path))
    header = safetensors_header(path)
    meta = header.pop("__metadata__", {}) or {}
    keys = list(header)
    if any(k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")) for k in keys):
        kind = "kohya"
    elif any(".lora.down." in k or ".lora_linear_layer." in k for k in keys):
        kind = "diffusers"
    elif any(".lora_A." in k for k in keys):
        kind = "peft"
    else:
        kind = "unknown"
    downs = [v["shape"] for k, v in header.items() if k.endswith(("lora_down.weight", "lora.down.weight", "lora_A.weight"))]
    rank = int(downs[0][0]) if downs and downs[0] else None
    base = meta.get("ss_base_model_version") or meta.get("modelspec.architecture") or _guess_base(keys)
    return LoraInfo(path.stem, kind, rank, base, _triggers(meta), str(path))


def list_loras(folder: Path) -> list[LoraInfo]:
    """Every LoRA-like file in `folder` described; one that cannot be read is listed as unreadable, with why."""
    rows = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".safetensors", ".ckpt", ".pt")):
        try:
            rows.append(describe(path))
        except SdlabError as exc:
            rows.append(LoraInfo(path.stem, f"unreadable: {exc.message}", None, "", (), str(path)))
    return rows


def _guess_base(keys: list[str]) -> str:
    if any(k.startswith(("lora_te2_", "text_encoder_2.")) or "add_embedding" in k for k in keys):
        return "sdxl (from key names)"
    return "sd1/sd2 (from key names)"


def _triggers(meta: dict) -> tuple[str, ...]:
    """modelspec.trigger_phrase, else the five most frequent caption tags kohya recorded (ss_tag_frequency)."""
    if meta.get("modelspec.trigger_phrase"):
        return tuple(t.strip() for t in meta["modelspec.trigger_phrase"].split(",") if t.strip())
    try:
        frequency = json.loads(meta.get("ss_tag_frequency", "{}"))
    except json.JSONDecodeError:
        return ()
    counts: Counter[str] = Counter()
    for tags in frequency.values() if isinstance(frequency, dict) else ():
        if isinstance(tags, dict):
            counts.update({str(tag).strip(): n for tag, n in tags.items() if isinstance(n, int)})
    return tuple(tag for tag, _ in counts.most_common(5))
