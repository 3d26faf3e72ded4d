"""`sdlab exercise`: the seeds' exercises as one command each: grid, table, plot and a written answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sdlab.cli import common as c
from sdlab.cli.errors import SdlabCommand, SdlabGroup

app = typer.Typer(cls=SdlabGroup, help="The seeds' exercises: guidance and img2img strength sweeps, a LoRA rank x steps grid; each with a report.",
                  no_args_is_help=True)

Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for report.md, grid, plots, cells (default outputs/exercise-NAME).")]
ClipModel = Annotated[Optional[str], typer.Option(help="CLIP model folder or hub id, for the CLIP score.")]


def _report(done: int, total: int, seconds: float) -> None:
    typer.echo(f"cell {done}/{total}  {seconds:.0f} s elapsed, about {seconds / done * (total - done):.0f} s to go", err=True)


def _folder(output: Optional[Path], name: str) -> Path:
    """The exercise folder (default outputs/exercise-NAME)."""
    return output or Path(f"outputs/exercise-{name}")


def _finish(exercise) -> None:
    typer.echo(exercise.answer)
    typer.echo(f"wrote {exercise.report}")


@app.command(cls=SdlabCommand)
def guidance(
    output: Output = None, model: c.Model = None,
    prompt: Annotated[Optional[str], typer.Option(help="Prompt (default: four prompts of the embedded model's world).")] = None,
    images: Annotated[int, typer.Option(help="Images per cell.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed shared by every cell.")] = 7,
    clip_model: ClipModel = None, overwrite: c.Overwrite = False,
) -> None:
    """Sweep guidance 1, 3, 5, 7.5, 10, 15: where do artefacts appear? Resumable (run it again).

    Examples:\n
      sdlab exercise guidance\n
      sdlab exercise guidance --model ./sd15 --prompt "a lighthouse at dusk" --images 4
    """
    from sdlab.eval.exercises import guidance_exercise

    _check_images(images)
    clip = c.clip_model(clip_model)
    _finish(guidance_exercise(c.engine(), _folder(output, "guidance"), model, prompt, images, seed,
                              clip=clip, progress=_report, overwrite=overwrite))
    c.note_if_no_clip(clip)


@app.command(cls=SdlabCommand)
def strength(
    output: Output = None, model: c.Model = None,
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="Input image (default: a rendered blue square on pink).")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="Prompt (default on sdlab's models: what the default input shows, 'a blue square on a pink background').")] = None,
    images: Annotated[int, typer.Option(help="Images per cell.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed shared by every cell.")] = 7,
    clip_model: ClipModel = None, overwrite: c.Overwrite = False,
) -> None:
    """Sweep img2img strength 0.2-1.0 from an input: which strength keeps the composition? Resumable.

    Examples:\n
      sdlab exercise strength\n
      sdlab exercise strength --model ./sd15 --image photo.png --prompt "an oil painting of a harbour"
    """
    from sdlab.eval.exercises import strength_exercise

    _check_images(images)
    clip = c.clip_model(clip_model)
    _finish(strength_exercise(c.engine(), _folder(output, "strength"), image, prompt, model, images,
                              seed, clip=clip, progress=_report, overwrite=overwrite))
    c.note_if_no_clip(clip)


@app.command(cls=SdlabCommand)
def lora(
    output: Output = None, model: c.Model = None,
    data: Annotated[Optional[Path], typer.Option(help="Your subject's images (captions optional; kohya N_name folders work). Default: the embedded model's star.")] = None,
    trigger: Annotated[Optional[str], typer.Option(help="Words naming your subject in prompts, e.g. 'sks dog'; the last word is its class.")] = None,
    prompt: Annotated[Optional[list[str]], typer.Option(help="Test prompt with {subject}; repeat (default: six scenes).")] = None,
    rank: Annotated[Optional[list[int]], typer.Option(help="LoRA rank; repeat for the grid (default 4 and 8).")] = None,
    steps: Annotated[Optional[list[int]], typer.Option(help="Training steps; repeat for the grid (default 150, 300, 600).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="UNet learning rate, text encoder half (default 3e-3 embedded, 1e-4 otherwise).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Training batch size (default 8 embedded, 1 otherwise).")] = None,
    targets: Annotated[str, typer.Option(help="UNet layers with LoRA: attention, transformer or all (with ResNet convs).")] = "all",
    per_prompt: Annotated[int, typer.Option(help="Images per test prompt (6 prompts).")] = 4,
    resolution: Annotated[Optional[int], typer.Option(help="Training and test image size (default: the model's).")] = None,
    clip_model: ClipModel = None, overwrite: c.Overwrite = False,
) -> None:
    """Train a LoRA per rank x steps cell, score identity vs prompt fidelity, name the best cell. Resumable.

    On the embedded model the subject is a star it has never drawn and the judge scores it; on
    another model give --data, --trigger and --clip-model (identity: CLIP-I, fidelity: CLIP-T).

    Examples:\n
      sdlab exercise lora\n
      sdlab exercise lora --rank 4 --rank 16 --steps 100 --steps 400\n
      sdlab exercise lora --model ./sd15 --data ./dog --trigger "sks dog" --clip-model ./clip-vit-b32 --steps 400 --steps 800
    """
    from sdlab.eval.exercises import lora_exercise
    from sdlab.eval.metrics import load_clip

    _check_images(per_prompt, "per-prompt")
    clip = load_clip(clip_model) if clip_model else None
    _finish(lora_exercise(c.engine(), _folder(output, "lora"), model, data, trigger,
                          tuple(prompt) if prompt else None, clip, tuple(rank or (4, 8)), tuple(steps or (150, 300, 600)),
                          lr, batch_size, per_prompt, targets, resolution=resolution, progress=_report,
                          overwrite=overwrite))


def _check_images(images: int, argument: str = "images") -> None:
    from sdlab.errors import UsageError

    if not 1 <= images <= 64:
        raise UsageError(argument, f"must be between 1 and 64, got {images}")
