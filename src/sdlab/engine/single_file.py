"""Write a diffusers pipeline as one original-layout (LDM) checkpoint, the file A1111 and ComfyUI load.

Key names follow the original Stable Diffusion repositories: `model.diffusion_model.*`
(UNet), `first_stage_model.*` (VAE), `cond_stage_model.transformer.*` (SD 1.x text
encoder) or `conditioner.embedders.{0,1}.*` (SDXL's two text encoders, the second
in OpenCLIP layout). diffusers' `from_single_file` reads the result back.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from sdlab.errors import UsageError

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
           ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    return rest


def unet_key(key: str, layers_per_block: int, up_has_attention: list[bool]) -> str:
    """The LDM name of one diffusers UNet parameter."""
    for new, old in _UNET_TOP.items():
        if key.startswith(new + "."):
            return old + key[len(new):]
    parts = key.split(".")
    n = layers_per_block
    if parts[0] == "down_blocks":
        block, kind = int(parts[1]), parts[2]
        if kind == "downsamplers":
            return f"input_blocks.{(n + 1) * (block + 1)}.0.op." + ".".join(parts[5:])
        index = (n + 1) * block + int(parts[3]) + 1
        rest = ".".join(parts[4:])
        return f"input_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{index}.1.{rest}"
    if parts[0] == "mid_block":
        rest = ".".join(parts[3:])
        if parts[1] == "attentions":
            return f"middle_block.1.{rest}"
        return f"middle_block.{2 * int(parts[2])}.{_resnet(rest)}"
    if parts[0] == "up_blocks":
        block, kind = int(parts[1]), parts[2]
        if kind == "upsamplers":
            slot = 2 if up_has_attention[block] else 1
            return f"output_blocks.{(n + 1) * block + n}.{slot}." + ".".join(parts[4:])
        index = (n + 1) * block + int(parts[3])
        rest = ".".join(parts[4:])
        return f"output_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{index}.1.{rest}"
    raise UsageError("model", f"cannot place UNet parameter {key} in the original layout")


_VAE_ATTENTION = (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out"))


def vae_key(key: str, levels: int) -> str:
    """The LDM name of one diffusers VAE parameter."""
    parts = key.split(".")
    side = parts[0]
    if parts[1] == "down_blocks":
        if parts[3] == "downsamplers":
            return f"{side}.down.{parts[2]}.downsample." + ".".join(parts[5:])
        return f"{side}.down.{parts[2]}.block.{parts[4]}." + ".".join(parts[5:]).replace("conv_shortcut", "nin_shortcut")
    if parts[1] == "up_blocks":
        level = levels - 1 - int(parts[2])
        if parts[3] == "upsamplers":
            return f"{side}.up.{level}.upsample." + ".".join(parts[5:])
        return f"{side}.up.{level}.block.{parts[4]}." + ".".join(parts[5:]).replace("conv_shortcut", "nin_shortcut")
    if parts[1] == "mid_block":
        if parts[2] == "attentions":
            rest = ".".join(parts[4:])
            for new, old in _VAE_ATTENTION:
                if rest.startswith(new + "."):
                    return f"{side}.mid.attn_1.{old}{rest[len(new):]}"
        return f"{side}.mid.block_{int(parts[3]) + 1}." + ".".join(parts[4:]).replace("conv_shortcut", "nin_shortcut")
    return key.replace("conv_norm_out", "norm_out")


def open_clip_tensors(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """A CLIPTextModelWithProjection state dict in OpenCLIP's layout (fused q/k/v, transposed projection)."""
    out: dict[str, torch.Tensor] = {}
    renames = (("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"),
               ("self_attn.out_proj", "attn.out_proj"))
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        key = key.removeprefix("text_model.")
        if key == "embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = tensor
        elif key == "embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = tensor
        elif key.startswith("final_layer_norm."):
            out[prefix + "ln_final." + key.split(".")[-1]] = tensor
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = tensor.T.contiguous()
        elif key.startswith("encoder.layers."):
            layer, rest = key.split(".")[2], ".".join(key.split(".")[3:])
            base = f"{prefix}transformer.resblocks.{layer}."
            if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                fused.setdefault(base + "attn.in_proj_" + rest.split(".")[-1], {})[rest.split(".")[1]] = tensor
                continue
            for new, old in renames:
                rest = rest.replace(new, old)
            out[base + rest] = tensor
    for key, parts in fused.items():
        out[key] = torch.cat([parts["q_proj"], parts["k_proj"], parts["v_proj"]])
    return out


def pipeline_tensors(pipe) -> dict[str, torch.Tensor]:
    """Every weight of an SD 1.x or SDXL pipeline under its original-layout name."""
    if getattr(pipe, "text_encoder", None) is not None and pipe.text_encoder.config.hidden_size == 1024 and \
            getattr(pipe, "text_encoder_2", None) is None:
        raise UsageError("model", "writing SD 2.x as a single file is not supported; SD 1.x and SDXL are")
    config = pipe.unet.config
    up_attention = ["CrossAttn" in t for t in config.up_block_types]
    out = {f"model.diffusion_model.{unet_key(k, config.layers_per_block, up_attention)}": v
           for k, v in pipe.unet.state_dict().items()}
    levels = len(pipe.vae.config.block_out_channels)
    for key, tensor in pipe.vae.state_dict().items():
        name = vae_key(key, levels)
        if ".mid.attn_1." in name and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # the original VAE attention is 1x1 convolutions
        out[f"first_stage_model.{name}"] = tensor
    text_state = {k.removeprefix("text_model."): v for k, v in pipe.text_encoder.state_dict().items()} \
        if pipe.text_encoder is not None else {}
    if getattr(pipe, "text_encoder_2", None) is not None:
        out.update({f"conditioner.embedders.0.transformer.text_model.{k}": v for k, v in text_state.items()})
        out.update(open_clip_tensors(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model."))
    else:
        out.update({f"cond_stage_model.transformer.text_model.{k}": v for k, v in text_state.items()})
    return {k: v.detach().contiguous().cpu() for k, v in out.items()}


def save_single_file(pipe, path: Path, overwrite: bool = False) -> Path:
    """Write the pipeline's weights as one .safetensors checkpoint at `path` (atomically)."""
    if path.exists() and not overwrite:
        raise UsageError("output", f"{path} exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".sdlab-", suffix=".safetensors", dir=path.parent)
    os.close(fd)
    try:
        save_file(pipeline_tensors(pipe), tmp, metadata={"format": "pt", "written_by": "sdlab"})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
