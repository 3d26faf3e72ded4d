"""LoRA files in kohya's sd-scripts layout, the one A1111 and ComfyUI read.

One module `M` stores `PREFIX_M.lora_down.weight` (rank x in), `PREFIX_M.lora_up.weight`
(out x rank) and `PREFIX_M.alpha` (a scalar; the update is up @ down * alpha / rank), with
`M` the module path with dots turned to underscores. Prefixes: `lora_unet_`, `lora_te_`
(SD 1.x/2.x text encoder), `lora_te1_` / `lora_te2_` (SDXL's two text encoders). SD 1.x/2.x
UNet paths are diffusers' own; SDXL's are the original (LDM) names, e.g. diffusers'
`down_blocks.1.attentions.0` is `input_blocks.4.1`.
"""

from __future__ import annotations

import re

import torch

_PREFIXES = {"unet.": "lora_unet_", "text_encoder.": "lora_te_"}
_SDXL_PREFIXES = {"unet.": "lora_unet_", "text_encoder.": "lora_te1_", "text_encoder_2.": "lora_te2_"}
_DOWN = (".lora.down.weight", ".lora_A.weight")
_UP = (".lora.up.weight", ".lora_B.weight")
_BLOCK = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.attentions\.(\d+)\.(.*)$")


def ldm_unet_path(module: str, layers_per_block: int) -> str:
    """An SDXL UNet attention module's path in the original layout (what kohya's SDXL files name)."""
    if module.startswith("mid_block.attentions.0."):
        return "middle_block.1." + module.removeprefix("mid_block.attentions.0.")
    match = _BLOCK.match(module)
    if match is None:
        raise ValueError(f"no LDM name for UNet module {module}")
    kind, block, index, rest = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
    if kind == "down_blocks":
        return f"input_blocks.{block * (layers_per_block + 1) + index + 1}.1.{rest}"
    return f"output_blocks.{block * (layers_per_block + 1) + index}.1.{rest}"


def diffusers_to_kohya(tensors: dict[str, torch.Tensor], alphas: dict[str, float] | None = None,
                       sdxl_layers_per_block: int | None = None) -> dict[str, torch.Tensor]:
    """Rename a diffusers/peft LoRA state dict (`unet.<module>.lora.down.weight` or `...lora_A.weight`) to kohya's keys.

    `alphas` maps a diffusers module path to its alpha; missing ones get alpha = rank (scale 1, as diffusers
    assumes). Give `sdxl_layers_per_block` (2 for SDXL) to write SDXL's layout.
    """
    prefixes = _PREFIXES if sdxl_layers_per_block is None else _SDXL_PREFIXES
    out: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        for suffixes, kind in ((_DOWN, "lora_down"), (_UP, "lora_up")):
            suffix = next((s for s in suffixes if key.endswith(s)), None)
            if suffix is None:
                continue
            module = key[: -len(suffix)]
            prefix = next((p for p in sorted(prefixes, key=len, reverse=True) if module.startswith(p)), None)
            if prefix is None:
                raise ValueError(f"LoRA key {key} belongs to none of {', '.join(p.rstrip('.') for p in prefixes)}")
            path = module[len(prefix):]
            if prefix == "unet." and sdxl_layers_per_block is not None:
                path = ldm_unet_path(path, sdxl_layers_per_block)
            name = prefixes[prefix] + path.replace(".", "_")
            out[f"{name}.{kind}.weight"] = tensor.contiguous()
            if kind == "lora_down":
                alpha = (alphas or {}).get(module, float(tensor.shape[0]))
                out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out
