"""Train sdlab-shapes from scratch: tokenizer, VAE, then text encoder + UNet.

Read top to bottom: `train_base` runs three stages, each resumable from the one
checkpoint file (`checkpoint.safetensors` in the output folder) that holds the
whole training state. Randomness comes from one torch.Generator (its state is in
the checkpoint) and from per-step seeded `random.Random`s, so an interrupted run
resumes to the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionPipeline
from safetensors.torch import load_file, save
from tqdm.auto import tqdm
from transformers import CLIPTokenizer

from sdlab.atomic import make_folder, write_bytes
from sdlab.engine.formats import safetensors_header
from sdlab.errors import ModelLoadError, UsageError
from sdlab.eval.vae import vae_fidelity
from sdlab.outputs import check_folder, fresh_folder
from sdlab.training.base.architecture import NOISE_SCHEDULE, build_scheduler, build_text_encoder, build_unet, build_vae
from sdlab.training.base.config import LORA_DEFAULTS, BaseTrainConfig
from sdlab.training.base.tokenizer import BOS, EOS, learn_merges, write_clip_tokenizer
from sdlab.training.images import to_tensor
from sdlab.training.checkpoint import load_optimizer, load_state, optimizer_tensors, read_meta, save_state
from sdlab.training.schedules import min_snr_weights, one_cycle_lr
from sdlab.training.base.worlds import training_world

CHECKPOINT = "checkpoint.safetensors"
MODEL_DEFAULTS = {"cfg": 5.0, "steps": 20, "sampler": "DPM++ 2M"}  # and the world's image size
LATENT_CACHE = "latents.safetensors"


def step_rng(seed: int, stage: str, step: int) -> random.Random:
    """A Python RNG that depends only on (seed, stage, step): resumable without saved state."""
    return random.Random(f"{seed}/{stage}/{step}")


def make_tokenizer(cfg: BaseTrainConfig, folder: Path) -> CLIPTokenizer:
    """Learn BPE merges on the world's captions and write a CLIP tokenizer to `folder`."""
    world = training_world(cfg.world)
    rng = random.Random(cfg.seed)
    words: Counter[str] = Counter()
    for _ in range(5000):
        words.update(world.caption(world.vocabulary_scene(rng), rng, 0.5).split())
    write_clip_tokenizer(folder, learn_merges(words))
    return CLIPTokenizer.from_pretrained(folder)


def train_base(output: Path, cfg: BaseTrainConfig, log: Callable[[str], None] = print,
               max_steps: int | None = None) -> Path | None:
    """Train every part of the model into `output`; return the exported diffusers folder.

    With `max_steps`, stop after that many optimisation steps in this call (checkpointed; returns None):
    calling again resumes where it stopped.
    """
    if max_steps is not None and max_steps < 1:
        raise UsageError("max-steps", f"must be at least 1, got {max_steps}")
    steps_done = 0
    ckpt = output / CHECKPOINT
    check_folder(output)
    if ckpt.exists():  # a damaged or foreign checkpoint is refused before anything is written
        recorded = read_meta(ckpt, "output").get("config")
        try:
            same = isinstance(recorded, dict) and BaseTrainConfig.from_dict(recorded) == cfg
        except (TypeError, ValueError, UsageError):
            same = False
        if not same:
            raise UsageError("output", f"{ckpt} was written by a run with another configuration; use another "
                             "run folder or the same options")
    make_folder(output)
    world = training_world(cfg.world)
    torch.manual_seed(cfg.seed)
    tokenizer = make_tokenizer(cfg, output / "tokenizer")
    vocab = tokenizer.get_vocab()
    vae = build_vae(cfg)
    text_encoder = build_text_encoder(cfg, len(vocab), vocab[BOS], vocab[EOS])
    unet = build_unet(cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    unet_params = list(unet.parameters()) + list(text_encoder.parameters())
    vae_opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr)
    unet_opt = torch.optim.AdamW(unet_params, lr=cfg.unet_lr, weight_decay=0.01)
    ema = {"unet": {k: v.detach().clone() for k, v in unet.state_dict().items()},
           "text_encoder": {k: v.detach().clone() for k, v in text_encoder.state_dict().items()}}
    stage, step, scaling = "vae", 0, 1.0

    if ckpt.exists():
        groups, meta = load_state(ckpt, "output")
        try:
            vae.load_state_dict(groups["vae"])
            text_encoder.load_state_dict(groups["text_encoder"])
            unet.load_state_dict(groups["unet"])
            ema = {"unet": groups["ema_unet"], "text_encoder": groups["ema_text_encoder"]}
            load_optimizer(vae_opt, groups.get("vae_opt", {}), meta["vae_opt_groups"])
            load_optimizer(unet_opt, groups.get("unet_opt", {}), meta["unet_opt_groups"])
            generator.set_state(groups["rng"]["generator"])
            stage, step, scaling = meta["stage"], meta["step"], meta["scaling_factor"]
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise UsageError("output", f"{ckpt} does not hold this run's training state ({exc.__class__.__name__}); "
                             "move it away to start over") from None
        log(f"resuming from {ckpt}: stage {stage}, step {step}")

    def save(stage: str, step: int) -> None:
        vae_t, vae_groups = optimizer_tensors(vae_opt)
        unet_t, unet_groups = optimizer_tensors(unet_opt)
        save_state(ckpt, {
            "vae": vae.state_dict(), "text_encoder": text_encoder.state_dict(), "unet": unet.state_dict(),
            "ema_unet": ema["unet"], "ema_text_encoder": ema["text_encoder"],
            "vae_opt": vae_t, "unet_opt": unet_t, "rng": {"generator": generator.get_state()},
        }, {"stage": stage, "step": step, "scaling_factor": scaling, "config": cfg.to_dict(),
            "vae_opt_groups": vae_groups, "unet_opt_groups": unet_groups})

    # Stage 1: the VAE learns to compress the world's images into 4-channel latents.
    if stage == "vae":
        bar = tqdm(range(step, cfg.vae_steps), initial=step, total=cfg.vae_steps, desc="vae", file=sys.stderr, mininterval=5)
        for step in bar:
            rng = step_rng(cfg.seed, "vae", step)
            images = to_tensor(world.render(world.vae_scene(rng)) for _ in range(cfg.vae_batch))
            for group in vae_opt.param_groups:
                group["lr"] = one_cycle_lr(step, cfg.vae_steps, cfg.vae_lr)
            posterior = vae.encode(images).latent_dist
            recon = vae.decode(posterior.sample(generator=generator)).sample
            weights = object_weights(images, cfg.vae_object_weight)
            loss = ((recon - images) ** 2 * weights).mean() / weights.mean() + 1e-6 * posterior.kl().mean()
            vae_opt.zero_grad(set_to_none=True)
            loss.backward()
            vae_opt.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
            steps_done += 1
            if step + 1 < cfg.vae_steps and ((step + 1) % cfg.checkpoint_every == 0 or steps_done == max_steps):
                save("vae", step + 1)
                if steps_done == max_steps:
                    return None
        # SD's 0.18215: rescale latents to unit variance so the noise schedule fits them.
        with torch.no_grad():
            rng = step_rng(cfg.seed, "scale", 0)
            sample = to_tensor(world.render(world.training_scene(rng)) for _ in range(256))
            scaling = float(1.0 / vae.encode(sample).latent_dist.mean.std())
        stage, step = "unet", 0
        save(stage, step)
        log(f"vae done; latent scaling factor {scaling:.5f}")
        if cfg.vae_check_scenes:
            kept = vae_fidelity(vae, world, cfg.vae_check_scenes, seed=cfg.seed)
            by_count = ", ".join(f"{n}: {r:.0%}" for n, r in kept.as_dict()["by_objects"].items())
            log(f"the judge reads {kept.rate:.1%} of {cfg.vae_check_scenes} scenes the same after the VAE round trip "
                f"(by object count: {by_count})")
        if max_steps is not None and steps_done >= max_steps:
            return None
    vae.register_to_config(scaling_factor=scaling)

    # Stage 2: encode the training set once (cached on disk, rebuilt identically if missing).
    scenes = [world.training_scene(random.Random(f"{cfg.seed}/data/{i}")) for i in range(cfg.dataset_size)]
    latents = cache_latents(output / LATENT_CACHE, vae, scenes, scaling, world.render)

    # Stage 3: text encoder + UNet learn to predict the noise, with caption dropout for CFG.
    noise_schedule = DDPMScheduler(**NOISE_SCHEDULE)
    if stage == "unet":
        vae.requires_grad_(False)
        bar = tqdm(range(step, cfg.unet_steps), initial=step, total=cfg.unet_steps, desc="unet", file=sys.stderr, mininterval=5)
        for step in bar:
            rng = step_rng(cfg.seed, "unet", step)
            index = torch.randint(0, len(scenes), (cfg.unet_batch,), generator=generator)
            texts = ["" if rng.random() < cfg.caption_dropout else world.caption(scenes[i], rng, cfg.caption_detail)
                     for i in index.tolist()]
            ids = tokenizer(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
            clean = latents[index]
            noise = torch.randn(clean.shape, generator=generator)
            timesteps = torch.randint(0, noise_schedule.config.num_train_timesteps, (cfg.unet_batch,), generator=generator)
            noisy = noise_schedule.add_noise(clean, noise, timesteps)
            for group in unet_opt.param_groups:
                group["lr"] = one_cycle_lr(step, cfg.unet_steps, cfg.unet_lr)
            prediction = unet(noisy, timesteps, text_encoder(ids)[0]).sample
            per_sample = F.mse_loss(prediction, noise, reduction="none").mean(dim=(1, 2, 3))
            loss = (min_snr_weights(noise_schedule.alphas_cumprod, timesteps, cfg.min_snr_gamma) * per_sample).mean()
            unet_opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet_params, 1.0)
            unet_opt.step()
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for name, model in (("unet", unet), ("text_encoder", text_encoder)):
                    for key, value in model.state_dict().items():
                        ema[name][key].lerp_(value, 1 - decay) if value.is_floating_point() else ema[name][key].copy_(value)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            steps_done += 1
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.unet_steps or steps_done == max_steps:
                save("unet" if step + 1 < cfg.unet_steps else "done", step + 1)
                if steps_done == max_steps and step + 1 < cfg.unet_steps:
                    return None
    return export_model(output, output / "model", tokenizer)


def object_weights(images: torch.Tensor, weight: float, tolerance: float = 0.1) -> torch.Tensor:
    """Per-pixel loss weights: 1 + `weight` where a pixel is unlike its image's background (the median colour).

    Objects cover a few percent of a world-2 image; unweighted, the VAE first learns the background alone
    and draws objects only thousands of steps later.
    """
    if not weight:
        return torch.ones_like(images[:, :1])
    background = images.flatten(2).median(dim=2).values[:, :, None, None]
    return 1 + weight * ((images - background).abs().amax(dim=1, keepdim=True) > tolerance).float()


def cache_latents(path: Path, vae, scenes, scaling: float, render: Callable, batch: int = 256) -> torch.Tensor:
    """Scaled latent means of every scene, read from `path` or computed once and saved there."""
    if path.exists():
        try:
            safetensors_header(path, "output")
            latents = load_file(str(path)).get("latents")
            if latents is not None and latents.shape[0] == len(scenes):
                return latents
        except ModelLoadError:
            pass  # a damaged cache is rebuilt (it is a function of the run's seed)
    chunks = []
    with torch.no_grad():
        for start in tqdm(range(0, len(scenes), batch), desc="encode", file=sys.stderr, mininterval=5):
            images = to_tensor(render(s) for s in scenes[start:start + batch])
            chunks.append(vae.encode(images).latent_dist.mean * scaling)
    latents = torch.cat(chunks)
    write_bytes(path, save({"latents": latents.contiguous()}), overwrite=True)
    return latents


def export_snapshot(run: Path, destination: Path) -> Path:
    """The run's latest checkpoint as a diffusers folder at `destination` (new), to judge a run mid-way."""
    ckpt = run / CHECKPOINT
    if not ckpt.is_file():
        raise UsageError("output", f"{run} holds no checkpoint ({CHECKPOINT}) to export")
    meta = read_meta(ckpt, "output")
    if meta.get("stage") == "vae" or (meta.get("stage") == "unet" and meta.get("step", 0) == 0):
        raise UsageError("export", f"the run is at {meta.get('stage')} step {meta.get('step')}: no UNet step has "
                         "been trained yet, so there is no model to export")
    if destination.exists():
        raise UsageError("export", f"{destination} already exists; give a new folder")
    return export_model(run, destination)


def export_model(run: Path, destination: Path, tokenizer: CLIPTokenizer | None = None) -> Path:
    """Write the EMA weights of the run in `run` as a diffusers folder at `destination` (atomically)."""
    groups, meta = load_state(run / CHECKPOINT)
    cfg = BaseTrainConfig.from_dict(meta["config"])
    tokenizer = tokenizer or CLIPTokenizer.from_pretrained(run / "tokenizer")
    vocab = tokenizer.get_vocab()
    vae, unet = build_vae(cfg), build_unet(cfg)
    text_encoder = build_text_encoder(cfg, len(vocab), vocab[BOS], vocab[EOS])
    vae.load_state_dict(groups["vae"])
    vae.register_to_config(scaling_factor=meta["scaling_factor"])
    unet.load_state_dict(groups["ema_unet"])
    text_encoder.load_state_dict(groups["ema_text_encoder"])
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=build_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    staging = fresh_folder(destination.parent, f".{destination.name}.")
    pipe.save_pretrained(staging, safe_serialization=True)
    for name in ("vocab.json", "merges.txt"):  # CLIP's own files, for tokenizers that do not read tokenizer.json
        shutil.copy2(run / "tokenizer" / name, staging / "tokenizer" / name)
    # What sdlab uses when a request leaves these to the model (plain diffusers ignores this file).
    defaults = {"size": cfg.image_size, **MODEL_DEFAULTS}
    lora = {"lora": LORA_DEFAULTS[cfg.world]} if cfg.world in LORA_DEFAULTS else {}
    (staging / "sdlab.json").write_text(json.dumps({"defaults": defaults, "trained_steps": meta["step"],
                                                    "world": cfg.world, **lora}, indent=2))
    if destination.exists():
        shutil.rmtree(destination)
    staging.replace(destination)
    return destination
