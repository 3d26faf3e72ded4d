"""The engine: turns a validated GenerationRequest into images with a diffusers pipeline."""

from __future__ import annotations

import dataclasses
import math
import secrets
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from sdlab.engine import lora, samplers
from sdlab.engine.conditioning import encode
from sdlab.engine.events import Progress, StepEvent
from sdlab.engine.images import open_image
from sdlab.engine.loading import LoadedModel, ModelCache
from sdlab.engine.masks import blur, composite, mask_from_image, masked_box
from sdlab.engine.memory import check_decode_fits, out_of_memory
from sdlab.engine.noise import variation_latents
from sdlab.engine.previews import LatentPreview
from sdlab.engine.safety import check_images, load_checker
from sdlab.engine.sizing import describe_fit, fit, working_size
from sdlab.engine.sources import Family
from sdlab.errors import GenerationError, OutOfMemoryError, UsageError
from sdlab.requests import GeneratedImage, GenerationRequest, GenerationResult, Resolved, Task
from sdlab.requests.infotext import format_infotext, infotext_params
from sdlab.requests.result import SEED_RANGE

DEFAULT_STRENGTH = {Task.img2img: 0.75, Task.inpaint: 1.0}
DEFAULT_BLEND = 0.5


@dataclass
class Prepared:
    """A request checked against its model and ready to run: what will run, its inputs at their working size."""

    model: LoadedModel
    resolved: Resolved
    init: Image.Image | None
    mask: Image.Image | None
    loras: list[lora.WantedLora]  # to apply
    scheduler: object  # the sampler's scheduler for this model, checked against the steps
    warnings: list[str] = field(default_factory=list)
    preview_map: LatentPreview | None = None  # set when the caller asked for step previews

    @property
    def task(self) -> Task:
        """What runs: img2img at strength 1 ignores its input entirely, so it is text-to-image
        (SD's last timestep still leaks a trace of the input)."""
        task = Task(self.resolved.task)
        return Task.txt2img if task is Task.img2img and self.resolved.strength == 1.0 else task


class Engine:
    """Runs requests; keeps the last model loaded between them (one Engine per process is enough).

    One request at a time: a lock serialises callers from several threads (a server's workers), since
    the loaded model, its LoRAs and its scheduler are shared state."""

    def __init__(self) -> None:
        self.models = ModelCache()
        self._lock = threading.RLock()

    def load(self, request: GenerationRequest) -> LoadedModel:
        return self.models.get(request.model, request.device, request.dtype, request.config, request.allow_pickle)

    def prepare(self, request: GenerationRequest) -> Prepared:
        """Everything about `request` that can fail before denoising, checked: its inputs, LoRA files, sampler and
        schedule, the model (loaded) and the model-dependent settings. Nothing is applied to the model yet."""
        with self._lock:
            return self._prepare(request)

    def _prepare(self, request: GenerationRequest) -> Prepared:
        init, mask, wanted = check_without_model(request)  # bad input fails before any model is loaded
        model = self.load(request)
        warnings: list[str] = []
        resolved = _resolve(request, model, init)
        size = (resolved.width, resolved.height)
        asked = request.width is not None or request.height is not None
        native = int(model.defaults["size"])
        if init is not None:
            warnings += filter(None, [describe_fit("image", init.size, size, request.resize_mode, native, asked)])
            init = fit(init, size, request.resize_mode).convert("RGB")
        if mask is not None:
            mask = fit(mask_from_image(mask), size, request.resize_mode)
        if resolved.strength and int(resolved.steps * resolved.strength) < 1:
            raise UsageError("strength", f"{resolved.steps} steps at strength {resolved.strength:g} leave no step to "
                             f"denoise (steps x strength < 1); use at least {math.ceil(1 / resolved.strength)} steps "
                             "or a higher strength")
        sampler, schedule = samplers.resolve(resolved.sampler)  # the display name carries the schedule
        scheduler = samplers.make_scheduler(model.scheduler_config, sampler, schedule)
        samplers.check_steps(scheduler, sampler, resolved.steps)
        prepared = Prepared(model, resolved, init, mask, wanted, scheduler, warnings)
        model.pipeline(prepared.task.value)  # an inpainting model refuses other tasks
        if request.cpu_offload and model.device.type != "cuda":
            raise UsageError("cpu-offload", "model CPU offload needs a CUDA GPU; it does nothing on the CPU")
        if request.safety_checker:
            load_checker(model)  # a model without one is refused before any image is drawn
        check_decode_fits(model.pipe.vae, resolved.width, resolved.height, 1 if request.vae_slicing else resolved.batch_size,
                          model.device, model.dtype, request.vae_tiling)
        return prepared

    def generate(self, request: GenerationRequest, progress: Progress | None = None,
                 cancel: threading.Event | None = None, skip: threading.Event | None = None,
                 previews: bool = False) -> GenerationResult:
        """Run `request`; `progress(StepEvent)` is called after every denoising step. With `previews`, each event
        carries the model's latent -> RGB map (fitted on first use) so `event.previews()` can draw the step cheaply.

        As A1111's interrupt and skip: setting `cancel` stops the run and returns the images already finished
        (`result.cancelled`); setting `skip` ends the current batch, drops it and goes on with the next (the
        engine clears it)."""
        with self._lock:
            return self._generate(request, progress, cancel, skip, previews)

    def _generate(self, request: GenerationRequest, progress: Progress | None, cancel: threading.Event | None,
                  skip: threading.Event | None, previews: bool) -> GenerationResult:
        started = time.perf_counter()
        prepared = self._prepare(request)
        model, warnings = prepared.model, prepared.warnings
        if previews and progress is not None:
            prepared.preview_map = model.preview_map()
        applied, lora_warnings = lora.apply(model, prepared.loras, request.allow_pickle, request.fuse_loras)
        warnings += lora_warnings
        resolved = dataclasses.replace(prepared.resolved, loras=tuple(applied))
        task = prepared.task
        pipe = model.pipeline(task.value)
        pipe.scheduler = prepared.scheduler  # the pipeline sets its timesteps again
        _memory_options(pipe, model, request)
        conditioning = encode(pipe, request.encoder_prompt, resolved.negative_prompt, model.family is Family.sdxl,
                              resolved.blend_prompt, resolved.blend or 0.0)

        images: list[GeneratedImage] = []
        cancelled, skipped = False, 0
        for batch in range(resolved.batch_count):
            indices = [batch * resolved.batch_size + i for i in range(resolved.batch_size)]
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            if task is not Task.txt2img and resolved.strength == 0:
                pixels = [prepared.init.copy() for _ in indices]  # strength 0: nothing to denoise
            else:
                pixels = _run(pipe, task, resolved, conditioning.as_kwargs(), batch, indices, prepared, progress,
                              (cancel, skip))
            if pixels is None:  # interrupted: the batch is dropped
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                skip.clear()
                skipped += 1
                continue
            flags = check_images(model, pixels) if request.safety_checker else [None] * len(pixels)
            for index, image, nsfw in zip(indices, pixels, flags):
                params = infotext_params(resolved, index)
                images.append(GeneratedImage(image, resolved.seed_for(index),
                                             format_infotext(resolved.prompt, resolved.negative_prompt, params),
                                             params, nsfw))
        return GenerationResult(images, resolved, warnings, time.perf_counter() - started, cancelled, skipped)


def check_without_model(request: GenerationRequest) -> tuple[Image.Image | None, Image.Image | None,
                                                               list[lora.WantedLora]]:
    """What can be checked before a model is loaded: the input images, the sampler and schedule, the LoRA files.
    Cheap, and safe from any thread (a server checks a request with it before queueing it)."""
    init, mask = _inputs(request)
    if request.sampler is not None:
        samplers.resolve(request.sampler, request.schedule)
    return init, mask, lora.wanted(request)


def _inputs(request: GenerationRequest) -> tuple[Image.Image | None, Image.Image | None]:
    init = open_image(request.image, "image") if request.image is not None else None
    mask = open_image(request.mask, "mask") if request.mask is not None else None
    if mask is not None and mask_from_image(mask).getbbox() is None:
        raise UsageError("mask", "is all black: nothing to regenerate (white = regenerate, black = keep)")
    return init, mask


def _random_seed() -> int:
    return secrets.randbelow(SEED_RANGE)


def _resolve(request: GenerationRequest, model: LoadedModel, init: Image.Image | None) -> Resolved:
    defaults = model.defaults
    if init is not None:
        width, height = working_size(init.size, int(defaults["size"]), request.width, request.height)
    else:
        width, height = request.width or defaults["size"], request.height or defaults["size"]
    sampler, schedule = samplers.resolve(request.sampler or defaults["sampler"], request.schedule)
    seed = request.seed if request.seed != -1 else _random_seed()
    strength = None
    if request.task is not Task.txt2img:
        strength = request.strength if request.strength is not None else DEFAULT_STRENGTH[request.task]
    inpaint = request.task is Task.inpaint
    variation_seed = None
    if request.variation_strength:
        variation_seed = request.variation_seed if request.variation_seed != -1 else _random_seed()
    blend = None
    if request.blend_prompt is not None:
        blend = request.blend if request.blend is not None else DEFAULT_BLEND
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
        blend_prompt=request.blend_prompt, blend=blend,
    )


def _memory_options(pipe, model: LoadedModel, request: GenerationRequest) -> None:
    """Set this request's memory options on the shared model, undoing what an earlier request switched on."""
    if request.attention_slicing:
        pipe.enable_attention_slicing()
    else:
        pipe.disable_attention_slicing()
    (pipe.vae.enable_slicing if request.vae_slicing else pipe.vae.disable_slicing)()
    (pipe.vae.enable_tiling if request.vae_tiling else pipe.vae.disable_tiling)()
    model.set_cpu_offload(pipe, request.cpu_offload)


def _run(pipe, task: Task, resolved: Resolved, conditioning: dict, batch: int, indices: list[int], prepared: Prepared,
         progress: Progress | None, stops: tuple[threading.Event | None, ...]) -> list[Image.Image] | None:
    """One batch through the pipeline, or None when one of `stops` (cancel, skip) interrupted it.
    Noise comes from CPU generators so a seed means the same image on every device."""
    generators = [torch.Generator("cpu").manual_seed(resolved.seed_for(i)) for i in indices]
    diverged: list[int] = []

    def stopped() -> bool:
        return any(event is not None and event.is_set() for event in stops)

    def on_step(p, step: int, _timestep, tensors: dict) -> dict:
        if not diverged and not torch.isfinite(tensors["latents"]).all():
            diverged.append(step + 1)
            p._interrupt = True
        if progress is not None:
            progress(StepEvent(batch, tuple(indices), step + 1, p.num_timesteps, tensors["latents"], prepared.preview_map))
        if stopped():
            p._interrupt = True
        return tensors

    init, mask = prepared.init, prepared.mask
    call = dict(conditioning, num_inference_steps=resolved.steps, guidance_scale=resolved.cfg, generator=generators,
                num_images_per_prompt=len(indices), output_type="np", callback_on_step_end=on_step)
    crop_box = None
    soft_mask = None
    if task is Task.txt2img:
        call.update(width=resolved.width, height=resolved.height)
        if resolved.variation_strength:
            shape = (pipe.unet.config.in_channels, resolved.height // pipe.vae_scale_factor,
                     resolved.width // pipe.vae_scale_factor)
            call["latents"] = variation_latents(generators, [resolved.variation_seed_for(i) for i in indices],
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
    try:
        with torch.inference_mode():
            output = pipe(**call).images
    except Exception as exc:
        if out_of_memory(exc):
            raise OutOfMemoryError(
                f"out of memory generating {len(indices)} image(s) of {resolved.width}x{resolved.height} on "
                f"{prepared.model.device}: lower the size or the batch size, or turn on VAE tiling and attention "
                "slicing") from exc
        raise
    if diverged:
        raise GenerationError(
            f"the sampler diverged at step {diverged[0]} of {resolved.steps} ({resolved.sampler}, seed "
            f"{resolved.seed_for(indices[0])}): the latents became NaN or infinite; use fewer steps or another sampler")
    if stopped():
        return None
    images = [_to_image(frame, resolved, prepared.model.dtype) for frame in output]
    if task is Task.inpaint:
        images = [_paste_back(init, image, soft_mask, crop_box) for image in images]
    return images


def _to_image(frame: np.ndarray, resolved: Resolved, dtype: torch.dtype) -> Image.Image:
    half = dtype in (torch.float16, torch.bfloat16)
    if np.isnan(frame).any():
        cause = ("this is the half-precision VAE overflowing: run with --dtype fp32, or use an fp16-fixed VAE" if half
                 else "the VAE overflowed in fp32; the model's VAE weights may be broken")
        raise GenerationError(f"the VAE decoded NaN values (seed {resolved.seed}); {cause}")
    if frame.max() <= 0.0:
        cause = "usually a half-precision VAE overflow: run with --dtype fp32" if half else \
            "a safety filter inside the model, or broken VAE weights"
        raise GenerationError(f"the image decoded all black (seed {resolved.seed}); {cause}")
    return Image.fromarray((frame * 255).round().astype(np.uint8))


def _paste_back(init: Image.Image, generated: Image.Image, soft_mask: Image.Image, box) -> Image.Image:
    if box is not None:
        full = init.copy()
        full.paste(generated.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS), box[:2])
        generated = full
    return composite(init, generated, soft_mask)
