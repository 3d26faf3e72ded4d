"""LoRA training speed and peak memory: sdlab train-lora against diffusers' train_text_to_image_lora.py recipe.

    python bench/train_lora.py                          # embedded sdlab-shapes, the subject data, 120 steps, 2 rounds
    python bench/train_lora.py --model ./sd15 --data ./photos --resolution 512 --batch 1 --steps 30

The recipe is the loop of diffusers' example script written plainly here: each step loads and
transforms the images, VAE-encodes them (latent_dist.sample()), text-encodes the captions, and trains
LoRA on to_q/to_k/to_v/to_out.0 with AdamW. sdlab trains the same layers with the same rank, batch,
learning rate and steps, once re-encoding every step (--no-cache-*) and once with cached latents and
text embeddings (its default). Each variant runs in its own process, one after another in this
session, so peak memory (max RSS on the CPU, max allocated on CUDA) is its own. Speed is steps per
second from the end of step 1 to the last step (model loading excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import machine  # bench/machine.py: printed before every result
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_recipe(args) -> dict:
    """diffusers' train_text_to_image_lora.py loop, written plainly."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, StableDiffusionPipeline
    from peft import LoraConfig, inject_adapter_in_model
    from PIL import Image

    from sdlab.engine.sources import resolve_source

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe = StableDiffusionPipeline.from_pretrained(resolve_source(args.model).location, safety_checker=None,
                                                   requires_safety_checker=False)
    vae, text_encoder, unet, tokenizer = pipe.vae.to(device), pipe.text_encoder.to(device), pipe.unet.to(device), pipe.tokenizer
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    for module in (vae, text_encoder, unet):
        module.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=args.rank, lora_alpha=args.rank, init_lora_weights="gaussian",
                                       target_modules=["to_k", "to_q", "to_v", "to_out.0"]), unet)
    params = [p for n, p in unet.named_parameters() if ".lora_" in n]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    files = sorted(Path(args.data).glob("*.png"))
    captions = [f.with_suffix(".txt").read_text().strip() for f in files]
    input_ids = tokenizer(captions, max_length=tokenizer.model_max_length, padding="max_length", truncation=True,
                          return_tensors="pt").input_ids

    def transform(path: Path) -> torch.Tensor:  # Resize, CenterCrop, ToTensor, Normalize([0.5], [0.5])
        image = Image.open(path).convert("RGB")
        scale = args.resolution / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
        left, top = (image.width - args.resolution) // 2, (image.height - args.resolution) // 2
        image = image.crop((left, top, left + args.resolution, top + args.resolution))
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)

    order = torch.randperm(len(files))
    unet.train()
    first = None
    for step in range(args.steps):
        batch = [(order[(step * args.batch + i) % len(files)]).item() for i in range(args.batch)]
        pixels = torch.stack([transform(files[i]) for i in batch]).to(device)
        latents = vae.encode(pixels).latent_dist.sample() * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(batch),), device=device)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        hidden = text_encoder(input_ids[batch].to(device), return_dict=False)[0]
        prediction = unet(noisy, timesteps, hidden, return_dict=False)[0]
        loss = F.mse_loss(prediction.float(), noise.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if step == 0:
            first = time.perf_counter()
    return {"steps_per_s": (args.steps - 1) / (time.perf_counter() - first), "peak_mb": peak_memory_mb()}


def run_sdlab(args, cached: bool) -> dict:
    from sdlab.requests.lora_training import build_lora_request
    from sdlab.training.lora.trainer import train_lora

    stamps = {}

    def progress(step: int, total: int, loss: float) -> None:
        stamps[step] = time.perf_counter()

    request = build_lora_request(data=args.data, model=args.model, output=str(Path(args.scratch) / f"bench-{cached}.safetensors"),
                                 rank=args.rank, steps=args.steps, batch_size=args.batch, unet_lr=args.lr,
                                 unet_targets="attention", resolution=args.resolution, seed=args.seed,
                                 cache_latents=cached, cache_text_embeddings=cached, overwrite=True)
    train_lora(request, log=lambda _: None, progress=progress)
    return {"steps_per_s": (args.steps - 1) / (stamps[args.steps] - stamps[1]), "peak_mb": peak_memory_mb()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="diffusers folder (default: the embedded model)")
    parser.add_argument("--data", default=None, help="images with .txt captions (default: 15 rendered stars)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scratch", default="outputs/bench-train-lora")
    parser.add_argument("--variant", choices=["recipe", "sdlab", "sdlab-cached"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:
        result = run_recipe(args) if args.variant == "recipe" else run_sdlab(args, args.variant == "sdlab-cached")
        print(json.dumps(result))
        return 0
    print(machine.describe(), flush=True)
    if args.data is None:
        from sdlab.eval.subject import write_subject_data

        args.data = str(write_subject_data(Path(args.scratch) / "data"))
    base = [sys.executable, __file__, "--data", args.data, "--resolution", str(args.resolution), "--batch", str(args.batch),
            "--rank", str(args.rank), "--lr", str(args.lr), "--steps", str(args.steps), "--scratch", args.scratch]
    if args.model:
        base += ["--model", args.model]
    # Two rounds, variants interleaved; each variant's faster round counts (drift and noise hit all alike).
    results: dict[str, dict] = {}
    for round_ in range(args.rounds):
        for variant in ("recipe", "sdlab", "sdlab-cached"):
            out = subprocess.run([*base, "--variant", variant], capture_output=True, text=True, check=True).stdout
            run = json.loads(out.strip().splitlines()[-1])
            print(f"round {round_ + 1}  {variant:<13} {run['steps_per_s']:6.2f} steps/s   peak {run['peak_mb']:7.0f} MB", flush=True)
            if variant not in results or run["steps_per_s"] > results[variant]["steps_per_s"]:
                results[variant] = run
    recipe = results["recipe"]
    for variant in ("sdlab", "sdlab-cached"):
        print(f"{variant} / recipe: {results[variant]['steps_per_s'] / recipe['steps_per_s']:.2f}x steps/s, "
              f"{results[variant]['peak_mb'] / recipe['peak_mb']:.2f}x peak memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
