"""Shared pieces of the CLI: error handling, option types, output writing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer



#: CLI options whose request field has another name (errors name the option, see cli/errors.py).
FIELD_FOR_OPTION = {"negative": "negative_prompt", "only_masked": "inpaint_only_masked", "padding": "inpaint_padding",
                    "lora": "loras", "sample_prompt": "sample_prompts"}


def quiet_libraries() -> None:
    """Keep transformers/diffusers chatter (progress bars, torchvision notices) off the terminal."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="diffusers")
    # peft, when diffusers loads a LoRA into a transformers text encoder (which carries an empty peft_config).
    warnings.filterwarnings("ignore", message="Already found a `peft_config`")


def library_bars_off() -> None:
    """Turn off diffusers' and transformers' own loading bars (the CLI draws its own), and their log lines
    (sdlab reports what matters in its own words) unless --debug asks for everything."""
    import logging

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from sdlab.cli.errors import state

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    level = logging.WARNING if state().debug else logging.CRITICAL
    diffusers_logging.set_verbosity(level)
    transformers_logging.set_verbosity(level)


def engine():
    """The process's engine, with the libraries' own loading bars off."""
    from sdlab.api import default_engine

    library_bars_off()
    return default_engine()


def clip_model(name: str | None):
    """The CLIP model for CLIP scores, or None when none is given."""
    from sdlab.eval.metrics import load_clip

    return load_clip(name) if name else None


def note_if_no_clip(clip) -> None:
    """Say that CLIP scores were skipped (after the run, so errors stay one line)."""
    if clip is None:
        typer.echo("note: CLIP score skipped; give --clip-model (a local CLIP folder, or a hub id when online)", err=True)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# Option types shared by generate, img2img and inpaint.
Negative = Annotated[Optional[str], typer.Option("--negative", "-n", help="Negative prompt.")]
Model = Annotated[Optional[str], typer.Option("--model", "-m", help="Hub id, diffusers folder or .safetensors file (default: embedded sdlab-shapes).")]
Config = Annotated[Optional[str], typer.Option("--config", help="Diffusers folder or hub id with the architecture of a single-file checkpoint.")]
Sampler = Annotated[Optional[str], typer.Option("--sampler", "-s", help="Sampler name as in A1111, e.g. 'Euler a', 'DPM++ 2M Karras' (see `sdlab samplers`).")]
Schedule = Annotated[Optional[str], typer.Option("--schedule", help="Schedule type: karras, exponential, beta, sgm uniform.")]
Steps = Annotated[Optional[int], typer.Option("--steps", help="Denoising steps (default: the model's, 20 for most).")]
Cfg = Annotated[Optional[float], typer.Option("--cfg", help="Classifier-free guidance scale; 1 skips the unconditional pass.")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Seed; -1 picks one and records it. Image i of a batch uses seed + i.")]
Width = Annotated[Optional[int], typer.Option("--width", "-W", help="Width in pixels, a multiple of 8.")]
Height = Annotated[Optional[int], typer.Option("--height", "-H", help="Height in pixels, a multiple of 8.")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", "-b", help="Images generated together.")]
BatchCount = Annotated[Optional[int], typer.Option("--batch-count", help="Batches run one after another.")]
VariationSeed = Annotated[Optional[int], typer.Option("--variation-seed", help="A second seed whose noise is mixed in (A1111's variation seed); -1 = random.")]
VariationStrength = Annotated[Optional[float], typer.Option("--variation-strength", help="0 = the seed's noise, 1 = the variation seed's; spherical interpolation between.")]
BlendPrompt = Annotated[Optional[str], typer.Option("--blend-prompt", help="A second prompt; the prompt's embedding moves towards it by --blend.")]
Blend = Annotated[Optional[float], typer.Option("--blend", help="With --blend-prompt: 0 = the prompt only, 1 = the blend prompt only (default 0.5).")]
Output = Annotated[Path, typer.Option("--output", "-o", help="Folder (numbered NNNNN-SEED.png names) or a .png file name.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print what was written, with its parameters, as JSON.")]
FromImage = Annotated[Optional[Path], typer.Option("--from", help="Re-run the parameters stored in this image's metadata.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
Dtype = Annotated[str, typer.Option("--dtype", help="auto (fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16.")]
AttentionSlicing = Annotated[bool, typer.Option("--attention-slicing", help="Compute attention in slices (less memory).")]
VaeSlicing = Annotated[bool, typer.Option("--vae-slicing", help="Decode a batch one image at a time.")]
VaeTiling = Annotated[bool, typer.Option("--vae-tiling", help="Decode in tiles (large images, less memory).")]
CpuOffload = Annotated[bool, typer.Option("--cpu-offload", help="Keep idle model parts in CPU memory (CUDA only).")]
SafetyChecker = Annotated[bool, typer.Option("--safety-checker", help="Run the model's safety checker and report its verdict.")]
AllowPickle = Annotated[bool, typer.Option("--allow-pickle", help="Allow pickle (.ckpt/.pt) checkpoints, read with weights_only=True.")]
Image = Annotated[Path, typer.Option("--image", "-i", help="Input image (PNG, JPEG or WEBP).")]
ResizeModeOption = Annotated[Optional[str], typer.Option("--resize-mode", help="When --width/--height differ from the input: resize (stretch), crop (cover, crop the overflow) or fill (fit inside, fill the margins); A1111's modes.")]
Strength = Annotated[Optional[float], typer.Option("--strength", help="0 keeps the input unchanged, 1 ignores it.")]
Lora = Annotated[Optional[list[str]], typer.Option("--lora", help="LoRA file or name, FILE[:WEIGHT]; repeat for several.")]
FuseLoras = Annotated[bool, typer.Option("--fuse-loras", help="Bake the LoRAs into the weights for faster steps.")]
LoraDir = Annotated[Optional[str], typer.Option("--lora-dir", help="Folder for <lora:NAME:WEIGHT> prompt tags (default $SDLAB_LORAS).")]


def parse_lora(value: str) -> dict:
    """--lora FILE[:WEIGHT] as request fields ({path, weight})."""
    from sdlab.requests import LoraRef

    return LoraRef.parse(value).model_dump()
