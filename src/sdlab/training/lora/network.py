"""LoRA adapters on a frozen UNet and text encoders, through peft: attach, list, read and restore."""

from __future__ import annotations

import warnings

import torch
from peft import LoraConfig, inject_adapter_in_model

from sdlab.requests.lora_training import TEXT_ENCODER_TARGETS, UNET_TARGETS, LoraTrainRequest

ADAPTER = "default"


def attach(components: dict[str, torch.nn.Module], request: LoraTrainRequest,
           seed: int) -> tuple[dict[str, list[torch.nn.Parameter]], dict[str, dict]]:
    """Freeze every component, add LoRA layers (initialised from `seed`); return the trainable parameters and
    the LoRA configs (as dicts), by component.

    `components` maps "unet", "text_encoder" and (SDXL) "text_encoder_2" to their modules; text encoders
    get adapters only when the request trains them.
    """
    torch.manual_seed(seed)
    trainable: dict[str, list[torch.nn.Parameter]] = {}
    configs: dict[str, dict] = {}
    for name, module in components.items():
        module.requires_grad_(False)
        if name != "unet" and not request.train_text_encoder:
            continue
        targets = UNET_TARGETS[request.unet_targets] if name == "unet" else TEXT_ENCODER_TARGETS
        config = LoraConfig(r=request.rank, lora_alpha=request.lora_alpha, target_modules=list(targets),
                            init_lora_weights=True)
        with warnings.catch_warnings():  # transformers models carry an empty peft_config attribute; peft warns about it
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            inject_adapter_in_model(config, module, adapter_name=ADAPTER)
        params = [p for name, p in module.named_parameters() if ".lora_" in name]
        for p in params:
            p.requires_grad_(True)
            p.data = p.data.float()  # LoRA weights learn in fp32 even when the frozen base is fp16
        trainable[name] = params
        configs[name] = config.to_dict()
    return trainable, configs


def named_lora(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA parameters of a module by full parameter name (what a checkpoint stores)."""
    return {name: p for name, p in module.named_parameters() if ".lora_" in name}


def restore(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy checkpointed LoRA parameters back into a module that `attach` prepared the same way."""
    own = named_lora(module)
    if set(own) != set(tensors):
        raise ValueError("the checkpoint's LoRA layers differ from this run's")
    with torch.no_grad():
        for name, param in own.items():
            param.copy_(tensors[name])


def adapter_state(module: torch.nn.Module, component: str) -> dict[str, torch.Tensor]:
    """The adapter as peft saves it: `<module path>.lora_A.weight` / `.lora_B.weight` (adapter name dropped).

    Text-encoder paths always start with `text_model.`, as in every LoRA file in circulation (transformers 5
    dropped that level from CLIPTextModel; A1111, ComfyUI and older diffusers still expect it).
    """
    state = {}
    for name, p in named_lora(module).items():
        key = name.replace(f".{ADAPTER}.", ".")
        if component != "unet" and not key.startswith("text_model."):
            key = "text_model." + key
        state[key] = p.detach().float().cpu().contiguous()
    return state
