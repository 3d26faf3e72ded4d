"""`sdlab sweep`: one request varied along X (and Y): a labelled grid, every image, metrics, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sdlab.cli import common as c


def sweep(
    prompt: Annotated[str, typer.Argument(help="The prompt every cell starts from.")],
    x: Annotated[str, typer.Option("--x", "-x", help="NAME=VALUES, e.g. cfg=1,3,5,7.5 or steps=10-50 (+10) or 'prompt=red,blue'.")],
    y: Annotated[Optional[str], typer.Option("--y", "-y", help="A second axis, same syntax.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Sweep folder: grid.png, results.csv/json, plots, cells/.")] = Path("outputs/sweep"),
    negative: c.Negative = None, model: c.Model = None, config: c.Config = None, allow_pickle: c.AllowPickle = False,
    sampler: c.Sampler = None, schedule: c.Schedule = None,
    steps: c.Steps = None, cfg: c.Cfg = None, seed: c.Seed = None, width: c.Width = None, height: c.Height = None,
    batch_size: c.BatchSize = None,
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="Input image: the cells are img2img.")] = None,
    strength: c.Strength = None, lora: c.Lora = None,
    variation_seed: c.VariationSeed = None, variation_strength: c.VariationStrength = None,
    blend_prompt: c.BlendPrompt = None, blend: c.Blend = None,
    max_cells: Annotated[int, typer.Option(help="Refuse grids with more cells than this.")] = 100,
    clip_model: Annotated[Optional[str], typer.Option(help="CLIP model folder or hub id for the CLIP score.")] = None,
    overwrite: c.Overwrite = False,
) -> None:
    """Sweep any request parameter: cfg, steps, sampler, schedule, seed, strength, size, lora-weight, prompt (S/R),
    negative, and the latent walks variation-strength (seed noise to --variation-seed noise) and blend (prompt to --blend-prompt).

    Cells share one seed, so they differ only by the swept values. Finished cells are kept: run the
    same command again to resume an interrupted sweep.

    Examples:\n
      sdlab sweep "a red circle on a white background" -x cfg=1,3,5,7.5,10,15 -b 4\n
      sdlab sweep "a red circle on a white background" -x "steps=5-30 (+5)" -y "sampler=Euler a,DPM++ 2M,DDIM"\n
      sdlab sweep "a red circle on a white background" -x prompt=red,blue,green -y seed=1,2,3\n
      sdlab sweep "a blue square on a pink background" --image in.png -x "strength=0.2-1 [5]"\n
      sdlab sweep "a red circle on a white background" --seed 1 --variation-seed 2 -x "variation-strength=0-1 [6]"\n
      sdlab sweep "a red circle on a white background" --blend-prompt "a blue square on a black background" -x "blend=0-1 [6]"
    """
    from sdlab.eval.axes import parse_axis
    from sdlab.eval.sweep import run_sweep

    x_axis, y_axis = parse_axis(x, "x"), parse_axis(y, "y") if y else None
    fields = {"prompt": prompt, "negative_prompt": negative, "model": model, "config": config,
              "allow_pickle": allow_pickle or None, "sampler": sampler, "schedule": schedule,
              "steps": steps, "cfg": cfg, "seed": seed, "width": width, "height": height, "batch_size": batch_size,
              "strength": strength, "variation_seed": variation_seed, "variation_strength": variation_strength,
              "blend_prompt": blend_prompt, "blend": blend, "loras": [c.parse_lora(v) for v in lora] if lora else None,
              "task": "img2img" if image else "txt2img", "image": str(image) if image else None}
    fields = {k: v for k, v in fields.items() if v is not None}
    clip = c.clip_model(clip_model)

    def report(done: int, total: int, seconds: float) -> None:
        eta = seconds / done * (total - done)
        typer.echo(f"cell {done}/{total}  {seconds:.0f} s elapsed, about {eta:.0f} s to go", err=True)

    result = run_sweep(c.engine(), fields, x_axis, y_axis, output, max_cells, clip, progress=report, overwrite=overwrite)
    if result.reused:
        typer.echo(f"resumed: {result.reused} finished cells kept", err=True)
    metrics = [k for k in result.rows[0] if k not in (x_axis.name, y_axis.name if y_axis else None, "cell", "first_image")]
    header = [x_axis.name] + ([y_axis.name] if y_axis else []) + metrics
    typer.echo("  ".join(f"{h:>12}" for h in header))
    for row in result.rows:
        typer.echo("  ".join(f"{_cell(row.get(h)):>12}" for h in header))
    typer.echo(f"wrote {output / 'grid.png'}, results.csv, results.json and {len(metrics)} plots in {output}")
    c.note_if_no_clip(clip)


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
