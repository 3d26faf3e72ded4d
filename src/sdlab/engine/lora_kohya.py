"""LoRA files in kohya's sd-scripts layout, the one A1111 and ComfyUI read (SD 1.x).

One module `M` (a diffusers module path, dots turned to underscores) stores
`lora_unet_M.lora_down.weight` (rank x in), `lora_unet_M.lora_up.weight` (out x rank) and
`lora_unet_M.alpha` (a scalar; the update is up @ down * alpha / rank). Text-encoder modules
use the prefix `lora_te_`.
"""

from __future__ import annotations

import torch

_PREFIXES = {"unet.": "lora_unet_", "text_encoder.": "lora_te_"}
_DOWN = (".lora.down.weight", ".lora_A.weight")
_UP = (".lora.up.weight", ".lora_B.weight")


def diffusers_to_kohya(tensors: dict[str, torch.Tensor], alphas: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Rename a diffusers/peft LoRA state dict (`unet.<module>.lora.down.weight` or `...lora_A.weight`) to kohya's keys.

    `alphas` maps a diffusers module path to its alpha; missing ones get alpha = rank (scale 1, as diffusers assumes).
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        for suffixes, kind in ((_DOWN, "lora_down"), (_UP, "lora_up")):
            suffix = next((s for s in suffixes if key.endswith(s)), None)
            if suffix is None:
                continue
            module = key[: -len(suffix)]
            prefix = next((p for p in _PREFIXES if module.startswith(p)), None)
            if prefix is None:
                raise ValueError(f"LoRA key {key} belongs to neither the UNet nor the text encoder")
            name = _PREFIXES[prefix] + module[len(prefix):].replace(".", "_")
            out[f"{name}.{kind}.weight"] = tensor.contiguous()
            if kind == "lora_down":
                alpha = (alphas or {}).get(module, float(tensor.shape[0]))
                out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out
