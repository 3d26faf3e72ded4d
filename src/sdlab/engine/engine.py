"""The engine: turns a validated GenerationRequest into images with a diffusers pipeline."""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from typing import Callable

import numpy as np
import torch
from PIL import Image

from sdlab import __version__
from sdlab.engine import lora, samplers
from sdlab.engine.conditioning import encode
from sdlab.engine.images import open_image
from sdlab.engine.loading import LoadedModel, ModelCache
from sdlab.engine.masks import blur, composite, mask_from_image, masked_box
from sdlab.engine.metadata import format_infotext, format_number
from sdlab.engine.noise import variation_latents
from sdlab.engine.safety import check_images
from sdlab.engine.sources import Family
from sdlab.errors import CancelledError, GenerationError, UsageError
from sdlab.requests import GeneratedImage, GenerationRequest, GenerationResult, Resolved, Task

Progress = Callable[[int, int], None]
DEFAULT_STRENGTH = {Task.img2img: 0.75, Task.inpaint: 1.0}


class Engine:
    """Runs requests; keeps the last model loaded between them (one Engine per process is enough)."""

    def __init__(self) -> None:
        self.models = ModelCache()

    def load(self, request: GenerationRequest) -> LoadedModel:
        return self.models.get(request.model, request.device, request.dtype, request.config, request.allow_pickle)

    def generate(self, request: GenerationRequest, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> GenerationResult:
        """Run `request`; `progress(step, total)` is called after every denoising step, `cancel` stops it."""
        started = time.perf_counter()
        init, mask = _inputs(request)  # bad input fails before any model is loaded
        if request.sampler is not None:
            samplers.resolve(request.sampler, request.schedule)
        encoder_prompt, tags = lora.extract_tags(request.prompt)
        folder = lora.lora_dir(request.lora_dir)
        wanted = [(lora.resolve(ref.path, folder), ref.weight) for ref in request.loras]
        wanted += [(lora.resolve(name, folder), weight) for name, weight in tags]
        model = self.load(request)
        warnings: list[str] = []
        applied, lora_warnings = lora.apply(model, wanted, request.allow_pickle, request.fuse_loras)
        warnings += lora_warnings
        resolved = dataclasses.replace(_resolve(request, model, init), loras=tuple(applied))
        if init is not None:
            init = _fit(init, resolved, "image", warnings).convert("RGB")
        if mask is not None:
            mask = _fit(mask_from_image(mask), resolved, "mask", warnings)

        # Strength 1 ignores the input entirely (SD's last timestep still leaks a trace of it): plain txt2img.
        task = Task.txt2img if request.task is Task.img2img and resolved.strength == 1.0 else request.task
        sampler, schedule = samplers.resolve(resolved.sampler)  # the display name carries the schedule
        pipe = model.pipeline(task.value)
        pipe.scheduler = samplers.make_scheduler(model.scheduler_config, sampler, schedule)
        _memory_options(pipe, request, model)
        conditioning = encode(pipe, encoder_prompt, resolved.negative_prompt, model.family is Family.sdxl,
                              resolved.blend_prompt, resolved.blend or 0.0)

        images: list[GeneratedImage] = []
        for batch in range(resolved.batch_count):
            seeds = [resolved.seed + batch * resolved.batch_size + i for i in range(resolved.batch_size)]
            if task is Task.img2img and resolved.strength == 0:
                pixels = [init.copy() for _ in seeds]  # strength 0: nothing to denoise
            else:
                pixels = _run(pipe, task, resolved, conditioning.as_kwargs(), seeds, init, mask, progress, cancel)
            flags = check_images(model, pixels) if request.safety_checker else [None] * len(pixels)
            for seed, image, nsfw in zip(seeds, pixels, flags):
                params = infotext_params(resolved, seed)
                images.append(GeneratedImage(image, seed, format_infotext(resolved.prompt, resolved.negative_prompt, params),
                                             params, nsfw))
        return GenerationResult(images, resolved, warnings, time.perf_counter() - started)


def _inputs(request: GenerationRequest) -> tuple[Image.Image | None, Image.Image | None]:
    init = open_image(request.image, "image") if request.image is not None else None
    mask = open_image(request.mask, "mask") if request.mask is not None else None
    return init, mask


def _resolve(request: GenerationRequest, model: LoadedModel, init: Image.Image | None) -> Resolved:
    defaults = model.defaults
    if init is not None and request.width is None and request.height is None:
        width, height = (max(8, init.width // 8 * 8), max(8, init.height // 8 * 8))
    else:
        width, height = request.width or defaults["size"], request.height or defaults["size"]
    sampler, schedule = samplers.resolve(request.sampler or defaults["sampler"], request.schedule)
    seed = request.seed if request.seed != -1 else secrets.randbelow(2**32 - 256 * 256)
    strength = None
    if request.task is not Task.txt2img:
        strength = request.strength if request.strength is not None else DEFAULT_STRENGTH[request.task]
    inpaint = request.task is Task.inpaint
    variation_seed = None
    if request.variation_strength > 0:
        variation_seed = request.variation_seed if request.variation_seed != -1 else secrets.randbelow(2**32 - 256 * 256)
    return Resolved(
        task=request.task.value, prompt=request.prompt, negative_prompt=request.negative_prompt,
        model_name=model.source.name, model_hash=model.model_hash,
        sampler=samplers.display_name(sampler, schedule), schedule=schedule,
        steps=request.steps or defaults["steps"], cfg=request.cfg if request.cfg is not None else defaults["cfg"],
        seed=seed, width=width, height=height, batch_size=request.batch_size, batch_count=request.batch_count,
        strength=strength, mask_blur=request.mask_blur if inpaint else None,
        inpaint_only_masked=request.inpaint_only_masked and inpaint,
        inpaint_padding=request.inpaint_padding if inpaint and request.inpaint_only_masked else None,
        variation_seed=variation_seed, variation_strength=request.variation_strength if variation_seed is not None else None,
        blend_prompt=request.blend_prompt, blend=request.blend if request.blend_prompt is not None else None,
    )


def _fit(image: Image.Image, resolved: Resolved, argument: str, warnings: list[str]) -> Image.Image:
    size = (resolved.width, resolved.height)
    if image.size == size:
        return image
    warnings.append(f"{argument}: resized from {image.width}x{image.height} to {size[0]}x{size[1]}")
    return image.resize(size, Image.Resampling.LANCZOS)


def _memory_options(pipe, request: GenerationRequest, model: LoadedModel) -> None:
    if request.attention_slicing:
        pipe.enable_attention_slicing()
    else:
        pipe.disable_attention_slicing()
    (pipe.vae.enable_slicing if request.vae_slicing else pipe.vae.disable_slicing)()
    (pipe.vae.enable_tiling if request.vae_tiling else pipe.vae.disable_tiling)()
    if request.cpu_offload:
        if model.device.type != "cuda":
            raise UsageError("cpu-offload", "model CPU offload needs a CUDA GPU; it does nothing on the CPU")
        pipe.enable_model_cpu_offload()


def _run(pipe, task: Task, resolved: Resolved, conditioning: dict, seeds: list[int], init, mask,
         progress: Progress | None, cancel: threading.Event | None) -> list[Image.Image]:
    """One batch through the pipeline; noise comes from CPU generators so a seed means the same everywhere."""
    generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]

    def on_step(p, step: int, _timestep, tensors: dict) -> dict:
        if progress is not None:
            progress(step + 1, p.num_timesteps)
        if cancel is not None and cancel.is_set():
            p._interrupt = True
        return tensors

    call = dict(conditioning, num_inference_steps=resolved.steps, guidance_scale=resolved.cfg, generator=generators,
                num_images_per_prompt=len(seeds), output_type="np", callback_on_step_end=on_step)
    crop_box = None
    soft_mask = None
    if task is Task.txt2img:
        call.update(width=resolved.width, height=resolved.height)
        if resolved.variation_strength:
            shape = (pipe.unet.config.in_channels, resolved.height // pipe.vae_scale_factor,
                     resolved.width // pipe.vae_scale_factor)
            call["latents"] = variation_latents(generators, [resolved.variation_seed_for(s) for s in seeds],
                                                resolved.variation_strength, shape, conditioning["prompt_embeds"].dtype)
    elif task is Task.img2img:
        call.update(image=init, strength=resolved.strength)
    else:
        soft_mask = blur(mask, resolved.mask_blur or 0)
        source, source_mask = init, soft_mask
        if resolved.inpaint_only_masked:
            crop_box = masked_box(mask, resolved.inpaint_padding or 0, resolved.width / resolved.height)
            if crop_box is not None:
                source = init.crop(crop_box).resize((resolved.width, resolved.height), Image.Resampling.LANCZOS)
                source_mask = soft_mask.crop(crop_box).resize((resolved.width, resolved.height), Image.Resampling.LANCZOS)
        call.update(image=source, mask_image=source_mask, strength=resolved.strength,
                    width=resolved.width, height=resolved.height)
    with torch.inference_mode():
        output = pipe(**call).images
    if cancel is not None and cancel.is_set():
        raise CancelledError("generation cancelled")
    images = [_to_image(frame, resolved) for frame in output]
    if task is Task.inpaint:
        images = [_paste_back(init, image, soft_mask, crop_box) for image in images]
    return images


def _to_image(frame: np.ndarray, resolved: Resolved) -> Image.Image:
    if np.isnan(frame).any():
        raise GenerationError(
            f"the VAE decoded NaN values (seed {resolved.seed}); this is the fp16 VAE overflow: "
            "run with --dtype fp32, or use an fp16-fixed VAE")
    if frame.max() <= 0.0:
        raise GenerationError(
            f"the image decoded all black (seed {resolved.seed}); usually an fp16 VAE overflow or a "
            "safety filter in the model: run with --dtype fp32")
    return Image.fromarray((frame * 255).round().astype(np.uint8))


def _paste_back(init: Image.Image, generated: Image.Image, soft_mask: Image.Image, box) -> Image.Image:
    if box is not None:
        full = init.copy()
        full.paste(generated.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS), box[:2])
        generated = full
    return composite(init, generated, soft_mask)


def infotext_params(resolved: Resolved, seed: int) -> dict:
    """The parameter line of A1111's infotext for one image (settings that do not apply are left out)."""
    params = {
        "Steps": resolved.steps,
        "Sampler": resolved.sampler,
        "CFG scale": format_number(resolved.cfg),
        "Seed": seed,
        "Size": f"{resolved.width}x{resolved.height}",
        "Model hash": resolved.model_hash or None,
        "Model": resolved.model_name,
        "Variation seed": resolved.variation_seed_for(seed),
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
