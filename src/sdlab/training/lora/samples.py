"""Sample images during LoRA training, so progress and over-fitting can be seen as well as measured."""

from __future__ import annotations

from pathlib import Path

import torch

from sdlab.engine import samplers
from sdlab.outputs import save_png


@torch.no_grad()
def write_samples(base, request, folder: Path, step: int, accelerator) -> list[Path]:
    """One image per sample prompt with the adapters as they are now (same seed every time), as PNGs in `folder`."""
    pipe = base.pipe
    sampler, schedule = samplers.resolve(base.sampler)
    pipe.scheduler = samplers.make_scheduler(pipe.scheduler.config, sampler, schedule)
    size = request.resolution or int(base.defaults["size"])
    modules = [m for m in (pipe.unet, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if m is not None]
    modes = [m.training for m in modules]
    for module in modules:
        module.eval()
    paths = []
    try:
        for index, prompt in enumerate(request.sample_prompts):
            generator = torch.Generator("cpu").manual_seed(request.seed + index)
            with accelerator.autocast():
                image = pipe(prompt, num_inference_steps=int(base.defaults["steps"]), guidance_scale=float(base.defaults["cfg"]),
                             width=size, height=size, generator=generator).images[0]
            parameters = f"{prompt}\nSteps: {base.defaults['steps']}, Sampler: {base.sampler}, CFG scale: {base.defaults['cfg']}, " \
                         f"Seed: {request.seed + index}, Size: {size}x{size}, Training step: {step}"
            paths.append(save_png(image, folder / f"step-{step:06d}-{index:02d}.png", parameters, overwrite=True))
    finally:
        for module, mode in zip(modules, modes):
            module.train(mode)
    return paths
