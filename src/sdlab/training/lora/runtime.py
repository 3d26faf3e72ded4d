"""Where a LoRA run executes: devices, processes and precision (accelerate), the frozen base model, the optimizer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from accelerate import Accelerator
from diffusers import DDPMScheduler

from sdlab.engine.devices import pick_device
from sdlab.engine.loading import load_model
from sdlab.engine.sources import Family
from sdlab.errors import UsageError
from sdlab.requests.lora_training import LoraTrainRequest


@dataclass
class Runtime:
    """One process of a (possibly multi-process) run."""

    accelerator: Accelerator

    @staticmethod
    def start(request: LoraTrainRequest) -> "Runtime":
        wanted = pick_device(request.device)
        precision = request.mixed_precision
        if precision == "auto":
            precision = "fp16" if wanted.type == "cuda" else "no"
        if precision != "no" and wanted.type != "cuda":
            raise UsageError("mixed-precision", f"{precision} needs a CUDA GPU; this run is on {wanted.type}: use --mixed-precision no")
        return Runtime(Accelerator(cpu=wanted.type == "cpu", mixed_precision=precision))

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def processes(self) -> int:
        return self.accelerator.num_processes

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    def average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Average the LoRA gradients over processes (one all-reduce), as DDP would."""
        if self.processes == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.flatten() for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.processes
        offset = 0
        for p, g in zip(params, grads):
            p.grad = flat[offset:offset + g.numel()].view_as(g).clone()
            offset += g.numel()

    def mean(self, value: torch.Tensor) -> float:
        """A scalar averaged over processes."""
        if self.processes == 1:
            return float(value)
        return float(self.accelerator.reduce(value.detach().clone(), "mean"))


@dataclass
class Base:
    """The frozen model a LoRA trains on."""

    pipe: object
    family: str
    name: str
    defaults: dict
    sampler: str

    @property
    def sdxl(self) -> bool:
        return self.family == Family.sdxl.value

    @property
    def noise_schedule(self) -> DDPMScheduler:
        return DDPMScheduler.from_config(self.pipe.scheduler.config)

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.pipe.vae.config.block_out_channels) - 1)

    @property
    def layers_per_block(self) -> int:
        return int(self.pipe.unet.config.layers_per_block)


def load_base(request: LoraTrainRequest, rt: Runtime) -> Base:
    """Load the model to train on: weights in fp16/bf16 under mixed precision (the LoRA itself stays fp32)."""
    dtype = {"fp16": "fp16", "bf16": "bf16"}.get(rt.accelerator.mixed_precision, "fp32")
    model = load_model(request.model, device=str(rt.device), dtype=dtype, allow_pickle=request.allow_pickle)
    if model.inpainting:
        raise UsageError("model", f"{model.source.name} is an inpainting model; train LoRAs on its text-to-image base")
    return Base(model.pipe, model.family.value, model.source.name, model.defaults, model.defaults.get("sampler", "DPM++ 2M"))


def make_optimizer(request: LoraTrainRequest, trainable: dict[str, list[torch.nn.Parameter]]) -> torch.optim.Optimizer:
    """AdamW over one parameter group per component (UNet, text encoders: their own learning rates)."""
    groups = [{"params": params, "lr": request.unet_lr if name == "unet" else request.text_encoder_lr}
              for name, params in trainable.items()]
    if request.optimizer == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise UsageError("optimizer", "adamw8bit needs bitsandbytes (pip install bitsandbytes) and a CUDA GPU") from None
        return bnb.optim.AdamW8bit(groups, weight_decay=request.weight_decay)
    return torch.optim.AdamW(groups, weight_decay=request.weight_decay)
