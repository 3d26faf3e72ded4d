"""Train a LoRA on a frozen Stable Diffusion model, top to bottom.

Encode images with the VAE (x scaling factor), draw a timestep and noise, add the noise,
encode the caption, let the UNet (with LoRA layers, the only weights that learn) predict the
noise, and minimise the MSE. Every random choice is a function of (seed, micro-batch), and the
whole state (LoRA weights, optimizer, step) is one checkpoint, so `--resume` after a crash ends
with the weights an uninterrupted run would have. With N processes (accelerate / torchrun) each
takes a slice of the same global micro-batch and gradients are averaged: the same result as one
process with the same effective batch. With prior preservation, every micro-batch also fits as
many class images (training/lora/prior.py), their loss weighted by --prior-loss-weight.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sdlab.errors import Fix, UsageError
from sdlab.outputs import check_folder, check_new_file
from sdlab.requests.lora_training import LoraTrainRequest, LrSchedule
from sdlab.training.checkpoint import load_optimizer, load_state, optimizer_tensors, read_meta, save_state
from sdlab.training.lora import network
from sdlab.training.lora.batches import Plan, draw, validation_draw
from sdlab.training.lora.data import Example, bucket_for, buckets, scan
from sdlab.training.lora.defaults import with_model_defaults
from sdlab.training.lora.encoding import Encoder, sdxl_time_ids
from sdlab.training.lora.export import training_metadata, write_lora
from sdlab.training.lora.prior import PRIOR_SALT, class_examples, pick
from sdlab.training.lora.runtime import Runtime, load_base, make_optimizer
from sdlab.training.lora.samples import write_samples
from sdlab.training.schedules import constant_lr, cosine_lr, min_snr_weights

CHECKPOINT = "checkpoint.safetensors"
LOG = "log.jsonl"


@dataclass
class LoraTrainResult:
    output: Path
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    main_process: bool = True  # False in the other processes of a multi-process run


def split_examples(examples: list[Example], request: LoraTrainRequest) -> tuple[list[Example], list[Example], list[str]]:
    """Training and held-out examples: a --validation-data folder, or a seeded share of the data."""
    if request.validation_data:
        held_out, notes = scan(Path(request.validation_data), request.instance_prompt, "validation-data")
        return examples, held_out, notes
    if not request.validation_split:
        return examples, [], []
    order = list(range(len(examples)))
    random.Random(f"{request.seed}/validation").shuffle(order)
    count = max(1, round(len(examples) * request.validation_split))
    if count >= len(examples):
        raise UsageError("validation-split", f"leaves no training images out of {len(examples)}; lower it")
    chosen = set(order[:count])
    return [e for i, e in enumerate(examples) if i not in chosen], [e for i, e in enumerate(examples) if i in chosen], []


def learning_rate(request: LoraTrainRequest, step: int, peak: float) -> float:
    if request.lr_schedule is LrSchedule.cosine:
        return cosine_lr(step, request.steps, peak, request.warmup_steps)
    return constant_lr(step, peak, request.warmup_steps)


def train_lora(request: LoraTrainRequest, log: Callable[[str], None] = print,
               progress: Callable[[int, int, float], None] | None = None) -> LoraTrainResult:
    """Train and write the LoRA file; return where it is and what was measured.

    `progress(step, steps, loss)` is called after every step in place of the progress bar."""
    started = time.time()
    request = with_model_defaults(request)  # the model's own LoRA settings (sdlab.json) for what is left unset
    output, work = Path(request.output), request.work_dir()
    rt = Runtime.start(request)
    ckpt = work / CHECKPOINT
    check_new_file(output, request.overwrite)
    if ckpt.exists() and not (request.resume or request.overwrite):
        raise UsageError("resume", f"{ckpt} holds an earlier run", fix=Fix("resume", "pass {option} to continue it or "
                                                                          "--overwrite to start over"))
    if request.resume and not ckpt.exists():
        raise UsageError("resume", f"no checkpoint to resume in {work}")
    if request.resume:
        read_meta(ckpt, "resume")  # a damaged checkpoint is refused before the model is loaded
    check_folder(work)

    examples, warnings = scan(Path(request.data), request.instance_prompt)
    train, held_out, notes = split_examples(examples, request)
    warnings += notes
    for warning in warnings:
        log(f"warning: {warning}")
    base = load_base(request, rt)
    pipe, sdxl = base.pipe, base.sdxl
    resolution = request.resolution or int(base.defaults["size"])
    choices = buckets(resolution, step=64 if resolution >= 512 else max(8, resolution // 8))
    plan = Plan(tuple(train), tuple(bucket_for(e.size, choices) for e in train), request.batch_size * rt.processes,
                request.seed)

    prior = class_examples(request, base, resolution, log) if request.preserves_prior else []  # before the LoRA exists
    components = {name: getattr(pipe, name) for name in ("unet", "text_encoder", "text_encoder_2")
                  if getattr(pipe, name, None) is not None}
    trainable, configs = network.attach(components, request, request.seed)
    params = [p for group in trainable.values() for p in group]
    if request.gradient_checkpointing:
        pipe.unet.enable_gradient_checkpointing()
        for name in trainable.keys() - {"unet"}:
            components[name].gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = rt.accelerator.prepare(make_optimizer(request, trainable))
    noise_schedule = base.noise_schedule
    v_prediction = noise_schedule.config.prediction_type == "v_prediction"
    unet_dtype = pipe.unet.dtype  # diffusers walks every module to answer this: ask once
    encoder = Encoder(pipe, sdxl, rt.device, request.cache_latents, request.caches_text)
    signature = {**request.run_signature(), "global_batch": plan.size}

    start, validation, log_lines = 0, [], []
    if request.resume:
        groups, meta = load_state(ckpt)
        recorded = meta.get("signature") if isinstance(meta.get("signature"), dict) else {}
        if recorded != signature:
            changed = sorted(k for k in signature if recorded.get(k) != signature[k])
            raise UsageError("resume", f"{ckpt} was written by a run with other settings ({', '.join(changed)}); "
                             "resume with the same options", fix=Fix("overwrite", "or pass {option} to start over"))
        try:
            for name in trainable:
                network.restore(components[name], groups[name])
            load_optimizer(optimizer.optimizer, groups.get("optimizer", {}), meta["optimizer_groups"])
            start, validation = meta["step"], [tuple(v) for v in meta["validation"]]
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise UsageError("resume", f"{ckpt} does not hold this run's LoRA and optimizer state "
                             f"({exc.__class__.__name__}); move it away to start over",
                             fix=Fix("overwrite", "or pass {option}")) from None
        log_lines = _read_log(work / LOG, start)
        log(f"resuming from {ckpt} at step {start}")

    def save_checkpoint(step: int) -> None:
        if rt.is_main:
            tensors, groups_meta = optimizer_tensors(optimizer.optimizer)
            state = {name: network.named_lora(components[name]) for name in trainable}
            save_state(ckpt, {**state, "optimizer": tensors},
                       {"step": step, "signature": signature, "optimizer_groups": groups_meta, "validation": validation})
            _write_log(work / LOG, log_lines)
        rt.wait()

    def validation_loss() -> float:
        losses = []
        with torch.no_grad(), rt.accelerator.autocast():
            for index, example in enumerate(held_out):
                bucket = bucket_for(example.size, choices)
                latent = encoder.latents([example], bucket, [False])
                noise, steps = validation_draw(request.seed, index, tuple(latent.shape[1:]),
                                               noise_schedule.config.num_train_timesteps)
                latents = latent.expand(len(steps), -1, -1, -1)
                losses.append(predict_loss(latents, noise.to(rt.device), steps.to(rt.device),
                                           [example.caption] * len(steps), bucket).mean().item())
        return sum(losses) / len(losses)

    def predict_loss(latents, noise, timesteps, captions, bucket) -> torch.Tensor:
        """Per-sample MSE between the UNet's prediction and its target (noise, or velocity for v-models)."""
        noisy = noise_schedule.add_noise(latents, noise, timesteps)
        text = encoder.text(captions)
        extra = {}
        if sdxl:
            extra["added_cond_kwargs"] = {"text_embeds": text.pooled, "time_ids": sdxl_time_ids(bucket, len(captions), rt.device)}
        prediction = pipe.unet(noisy.to(unet_dtype), timesteps, text.hidden, **extra).sample.float()
        target = noise_schedule.get_velocity(latents, noise, timesteps) if v_prediction else noise
        return F.mse_loss(prediction, target, reduction="none").mean(dim=(1, 2, 3))

    if held_out and request.validate_every and start == 0:
        validation.append((0, validation_loss()))
    bar = tqdm(total=request.steps, initial=start, desc="train-lora", disable=not rt.is_main or progress is not None,
               file=sys.stderr, mininterval=1, dynamic_ncols=True)
    losses: list[float] = []
    epochs: dict[int, list[list[int]]] = {}
    for name in trainable:
        components[name].train()
    for step in range(start, request.steps):
        for group, name in zip(optimizer.param_groups, trainable):
            group["lr"] = learning_rate(request, step, request.unet_lr if name == "unet" else request.text_encoder_lr)
        step_loss = torch.zeros((), device=rt.device)
        for micro in range(request.gradient_accumulation):
            index = step * request.gradient_accumulation + micro
            members = plan.micro_batch(index, epochs)
            bucket = plan.buckets[members[0]]
            mine = slice(rt.rank * request.batch_size, (rt.rank + 1) * request.batch_size)
            latent_shape = (pipe.unet.config.in_channels, bucket[1] // base.vae_scale, bucket[0] // base.vae_scale)
            chance = draw(request.seed, index, plan.size, latent_shape, noise_schedule.config.num_train_timesteps)
            chosen = [plan.examples[i] for i in members[mine]]
            flips = (chance.flip[mine] & request.flip).tolist()
            captions = ["" if drop < request.caption_dropout else e.caption
                        for e, drop in zip(chosen, chance.drop_caption[mine].tolist())]
            latents = encoder.latents(chosen, bucket, flips)
            noise = (chance.noise[mine] + request.noise_offset * chance.offset[mine]).to(rt.device)
            timesteps = chance.timesteps[mine].to(rt.device)
            with rt.accelerator.autocast():
                per_sample = predict_loss(latents, noise, timesteps, captions, bucket)
            if request.min_snr_gamma:
                per_sample = per_sample * min_snr_weights(noise_schedule.alphas_cumprod, timesteps,
                                                          request.min_snr_gamma, v_prediction)
            loss = per_sample.mean()
            if prior:  # the class images of this micro-batch, with noise of their own
                classes = pick(prior, request.seed, index, plan.size)[mine]
                extra = draw(request.seed ^ PRIOR_SALT, index, plan.size, latent_shape,
                             noise_schedule.config.num_train_timesteps)
                class_steps = extra.timesteps[mine].to(rt.device)
                with rt.accelerator.autocast():
                    prior_loss = predict_loss(encoder.latents(classes, bucket, [False] * len(classes)),
                                              (extra.noise[mine] + request.noise_offset * extra.offset[mine]).to(rt.device),
                                              class_steps, [e.caption for e in classes], bucket)
                if request.min_snr_gamma:
                    prior_loss = prior_loss * min_snr_weights(noise_schedule.alphas_cumprod, class_steps,
                                                              request.min_snr_gamma, v_prediction)
                loss = loss + request.prior_loss_weight * prior_loss.mean()
            loss = loss / request.gradient_accumulation
            rt.accelerator.backward(loss)
            step_loss += loss.detach()
        rt.average_gradients(params)
        if request.max_grad_norm:
            rt.accelerator.clip_grad_norm_(params, request.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = rt.mean(step_loss)
        losses.append(loss_value)
        done = step + 1
        log_lines.append({"step": done, "loss": round(loss_value, 6), "lr": optimizer.param_groups[0]["lr"]})
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        if progress is not None:
            progress(done, request.steps, loss_value)
        if held_out and request.validate_every and (done % request.validate_every == 0 or done == request.steps):
            if rt.is_main:
                validation.append((done, validation_loss()))
                log_lines.append({"step": done, "val_loss": round(validation[-1][1], 6)})
                bar.write(f"step {done}: validation loss {validation[-1][1]:.4f}")
            rt.wait()
        if request.sample_every and (done % request.sample_every == 0 or done == request.steps):
            if rt.is_main:
                write_samples(base, request, work / "samples", done, rt.accelerator)
            rt.wait()
        if request.checkpoint_every and done % request.checkpoint_every == 0 and done < request.steps:
            save_checkpoint(done)
    bar.close()
    save_checkpoint(request.steps)  # lets a later --resume extend a constant-schedule run

    if rt.is_main:
        parts = {name: network.adapter_state(components[name], name) for name in trainable}
        meta = training_metadata(request, base.family, train, base.name, resolution, request.steps, started,
                                 rt.processes)
        if prior:  # kohya's keys for regularization images
            meta.update(ss_num_reg_images=str(len(prior)), ss_prior_loss_weight=str(request.prior_loss_weight))
        write_lora(output, parts, configs, request.lora_alpha, request.output_format, meta,
                   base.layers_per_block if sdxl else None, overwrite=request.overwrite or request.resume)
    rt.wait()
    return LoraTrainResult(output, request.steps, time.time() - started, losses, validation, warnings, rt.is_main)


def _read_log(path: Path, upto: int) -> list[dict]:
    """Log lines of steps up to `upto` (a resumed run rewrites the rest); lines that do not parse are dropped."""
    if not path.exists():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("step"), int) and line["step"] <= upto:
            lines.append(line)
    return lines


def _write_log(path: Path, lines: list[dict]) -> None:
    from sdlab.atomic import write_bytes

    write_bytes(path, "".join(json.dumps(line) + "\n" for line in lines).encode(), overwrite=True)
