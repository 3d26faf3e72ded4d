"""`sdlab exercise`: the seeds' exercises as one command each: grid, table, plot and a written answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sdlab.cli import common as c

app = typer.Typer(help="The seeds' exercises: guidance and img2img strength sweeps with a report.", no_args_is_help=True)

Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for report.md, grid, plots, cells (default outputs/exercise-NAME).")]
ClipModel = Annotated[Optional[str], typer.Option(help="CLIP model folder or hub id, for the CLIP score.")]


def _report(done: int, total: int, seconds: float) -> None:
    typer.echo(f"cell {done}/{total}  {seconds:.0f} s elapsed, about {seconds / done * (total - done):.0f} s to go", err=True)


def _finish(exercise) -> None:
    typer.echo(exercise.answer)
    typer.echo(f"wrote {exercise.report}")


@app.command()
def guidance(
    output: Output = None, model: c.Model = None,
    prompt: Annotated[Optional[str], typer.Option(help="Prompt (default: four prompts of the embedded model's world).")] = None,
    images: Annotated[int, typer.Option(help="Images per cell.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed shared by every cell.")] = 7,
    clip_model: ClipModel = None,
) -> None:
    """Sweep guidance 1, 3, 5, 7.5, 10, 15: where do artefacts appear? Resumable (run it again).

    Examples:\n
      sdlab exercise guidance\n
      sdlab exercise guidance --model ./sd15 --prompt "a lighthouse at dusk" --images 4
    """
    from sdlab.eval.exercises import guidance_exercise
    from sdlab.eval.metrics import load_clip

    with c.user_errors():
        _check_images(images)
        clip = load_clip(clip_model) if clip_model else None
        _finish(guidance_exercise(c.engine(), output or Path("outputs/exercise-guidance"), model, prompt, images, seed,
                                  clip=clip, progress=_report))


@app.command()
def strength(
    output: Output = None, model: c.Model = None,
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="Input image (default: a rendered blue square on pink).")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="Prompt (default: 'a blue square on a pink background', what the default input shows).")] = None,
    images: Annotated[int, typer.Option(help="Images per cell.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed shared by every cell.")] = 7,
    clip_model: ClipModel = None,
) -> None:
    """Sweep img2img strength 0.2-1.0 from an input: which strength keeps the composition? Resumable.

    Examples:\n
      sdlab exercise strength\n
      sdlab exercise strength --model ./sd15 --image photo.png --prompt "an oil painting of a harbour"
    """
    from sdlab.errors import UsageError
    from sdlab.eval.exercises import strength_exercise
    from sdlab.eval.metrics import load_clip

    with c.user_errors():
        _check_images(images)
        if model is not None and image is None:
            raise UsageError("image", "give an input image for a model other than the embedded one")
        clip = load_clip(clip_model) if clip_model else None
        _finish(strength_exercise(c.engine(), output or Path("outputs/exercise-strength"), image, prompt, model, images,
                                  seed, clip=clip, progress=_report))


def _check_images(images: int) -> None:
    from sdlab.errors import UsageError

    if not 1 <= images <= 64:
        raise UsageError("images", f"must be between 1 and 64, got {images}")
