"""`sdlab train-lora`: train a LoRA on a folder of images (options map one-to-one onto LoraTrainRequest)."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated, Optional

import typer

from sdlab.cli import common as c

Opt = typer.Option


def train_lora(
    data: Annotated[str, typer.Argument(help="Image folder: same-name .txt/.caption captions, or kohya N_name repeat folders.")],
    output: Annotated[str, Opt("--output", "-o", help="The LoRA file to write (.safetensors).")],
    model: c.Model = None,
    instance_prompt: Annotated[Optional[str], Opt(help="Caption for images without a caption file, e.g. 'a sks star'.")] = None,
    resolution: Annotated[Optional[int], Opt(help="Training size (bucket area = size²); default: the model's.")] = None,
    flip: Annotated[Optional[bool], Opt("--flip", help="Mirror half the images at random.")] = None,
    rank: Annotated[Optional[int], Opt(help="LoRA rank (network dim); default 16.")] = None,
    alpha: Annotated[Optional[float], Opt(help="LoRA alpha; the update is scaled by alpha/rank (default alpha = rank).")] = None,
    unet_targets: Annotated[Optional[str], Opt(help="attention (q/k/v/out), transformer (also ff and proj; default) or all (also ResNet 3x3 convs, LoCon).")] = None,
    train_text_encoder: Annotated[Optional[bool], Opt("--train-text-encoder", help="Also train LoRA on the text encoder(s).")] = None,
    unet_lr: Annotated[Optional[float], Opt(help="UNet learning rate (default 1e-4).")] = None,
    text_encoder_lr: Annotated[Optional[float], Opt(help="Text-encoder learning rate (default 5e-5).")] = None,
    lr_schedule: Annotated[Optional[str], Opt(help="constant (default) or cosine.")] = None,
    warmup_steps: Annotated[Optional[int], Opt(help="Linear warm-up steps.")] = None,
    steps: Annotated[Optional[int], Opt(help="Optimizer steps (default 500).")] = None,
    batch_size: Annotated[Optional[int], Opt(help="Images per process per micro-batch (default 1).")] = None,
    gradient_accumulation: Annotated[Optional[int], Opt(help="Micro-batches per optimizer step.")] = None,
    gradient_checkpointing: Annotated[Optional[bool], Opt("--gradient-checkpointing", help="Recompute activations: less memory, slower.")] = None,
    mixed_precision: Annotated[Optional[str], Opt(help="auto (fp16 on CUDA, none on CPU), no, fp16, bf16.")] = None,
    optimizer: Annotated[Optional[str], Opt(help="adamw (default) or adamw8bit (bitsandbytes).")] = None,
    cache_latents: Annotated[Optional[bool], Opt("--cache-latents/--no-cache-latents", help="Encode each image once (default on).")] = None,
    cache_text_embeddings: Annotated[Optional[bool], Opt("--cache-text-embeddings/--no-cache-text-embeddings", help="Encode each caption once (default: on unless the text encoder trains).")] = None,
    min_snr_gamma: Annotated[Optional[float], Opt(help="Min-SNR loss weighting gamma (5 is usual).")] = None,
    noise_offset: Annotated[Optional[float], Opt(help="Noise offset (0.05-0.1 helps very dark/bright images).")] = None,
    caption_dropout: Annotated[Optional[float], Opt(help="Share of captions replaced by the empty caption.")] = None,
    seed: Annotated[Optional[int], Opt(help="Seed of initialisation, batches and noise (default 0).")] = None,
    validation_data: Annotated[Optional[str], Opt(help="Held-out image folder for the validation loss.")] = None,
    validation_split: Annotated[Optional[float], Opt(help="Hold out this share of the data for the validation loss.")] = None,
    validate_every: Annotated[Optional[int], Opt(help="Compute the validation loss every N steps.")] = None,
    sample_every: Annotated[Optional[int], Opt(help="Write sample images every N steps.")] = None,
    sample_prompt: Annotated[Optional[list[str]], Opt("--sample-prompt", help="Prompt for sample images; repeat for several.")] = None,
    class_prompt: Annotated[Optional[str], Opt(help="Prior preservation: the subject's class, e.g. 'a star'; each step also fits class images.")] = None,
    reg_data: Annotated[Optional[str], Opt(help="Folder of class (regularization) images; default: generated from the base model and cached.")] = None,
    prior_loss_weight: Annotated[Optional[float], Opt(help="Weight of the class images' loss (default 1).")] = None,
    class_images: Annotated[Optional[int], Opt(help="Class images to generate when --reg-data is not given (default 50).")] = None,
    checkpoint_every: Annotated[Optional[int], Opt(help="Save the whole training state every N steps.")] = None,
    resume: Annotated[Optional[bool], Opt("--resume", help="Continue from the checkpoint next to the output.")] = None,
    output_format: Annotated[Optional[str], Opt("--format", help="kohya (default; A1111/ComfyUI) or diffusers.")] = None,
    comment: Annotated[Optional[str], Opt(help="Stored as ss_training_comment.")] = None,
    num_processes: Annotated[int, Opt(help="Processes (GPUs) to train with, launched through torchrun.")] = 1,
    overwrite: c.Overwrite = False,
    device: c.Device = "auto",
    allow_pickle: c.AllowPickle = False,
) -> None:
    """Train a LoRA (the base model frozen) and write it as a kohya-compatible .safetensors.

    Checkpoints, sample images and the loss log go to OUTPUT's name + .training/.

    Examples:\n
      sdlab train-lora data/star --instance-prompt "a sks star" -o star.safetensors --rank 8 --steps 400\n
      sdlab train-lora data/ -o style.safetensors -m model.safetensors --resolution 512 --checkpoint-every 100\n
      sdlab train-lora data/ -o style.safetensors --resume       # after a crash: same weights as an unbroken run\n
      sdlab train-lora data/ -o style.safetensors --num-processes 2\n
      sdlab train-lora data/star --instance-prompt "a sks star" -o star.safetensors --class-prompt "a star"
    """
    from sdlab.errors import UsageError
    from sdlab.requests.lora_training import build_lora_request

    fields = dict(data=data, output=output, model=model, instance_prompt=instance_prompt, resolution=resolution, flip=flip,
                  rank=rank, alpha=alpha, unet_targets=unet_targets, train_text_encoder=train_text_encoder,
                  unet_lr=unet_lr, text_encoder_lr=text_encoder_lr, lr_schedule=lr_schedule, warmup_steps=warmup_steps,
                  steps=steps, batch_size=batch_size, gradient_accumulation=gradient_accumulation,
                  gradient_checkpointing=gradient_checkpointing, mixed_precision=mixed_precision, optimizer=optimizer,
                  cache_latents=cache_latents, cache_text_embeddings=cache_text_embeddings, min_snr_gamma=min_snr_gamma,
                  noise_offset=noise_offset, caption_dropout=caption_dropout, seed=seed, validation_data=validation_data,
                  validation_split=validation_split, validate_every=validate_every, sample_every=sample_every,
                  class_prompt=class_prompt, reg_data=reg_data, prior_loss_weight=prior_loss_weight,
                  class_images=class_images,
                  sample_prompts=tuple(sample_prompt) if sample_prompt else None, checkpoint_every=checkpoint_every,
                  resume=resume, output_format=output_format, comment=comment, overwrite=overwrite or None,
                  device=device, allow_pickle=allow_pickle or None)
    request = build_lora_request(**{k: v for k, v in fields.items() if v is not None})
    if not 1 <= num_processes <= 1024:
        raise UsageError("num-processes", f"must be between 1 and 1024, got {num_processes}")
    if num_processes > 1:
        raise typer.Exit(_launch(num_processes))
    from sdlab.training.lora.trainer import train_lora as run

    c.library_bars_off()
    result = run(request, log=lambda message: typer.echo(message, err=True))
    if not result.main_process:
        return
    last = f", final loss {result.losses[-1]:.4f}" if result.losses else ""
    held = f", validation loss {result.validation[-1][1]:.4f}" if result.validation else ""
    typer.echo(f"wrote {result.output} ({result.steps} steps in {result.seconds:.0f} s{last}{held})")


def _launch(processes: int) -> int:
    """Run this same command in `processes` processes under torchrun (one per GPU; gloo on the CPU)."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--num-processes":
            skip = True
        elif not arg.startswith("--num-processes="):
            args.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "sdlab.cli.main", *args]
    return subprocess.call(command)
