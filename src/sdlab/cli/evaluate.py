"""`sdlab eval adherence`: how often the judge finds what the prompt asked for."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from sdlab.cli import common as c

app = typer.Typer(help="Measure models: prompt adherence on the synthetic world.", no_args_is_help=True)


@app.command()
def adherence(
    images: Annotated[int, typer.Option(help="Images per set (trained pairs, held-out pairs).")] = 200,
    cfg: Annotated[Optional[list[float]], typer.Option(help="Guidance scale; repeat to sweep.")] = None,
    model: c.Model = None, steps: c.Steps = None, sampler: c.Sampler = None,
    seed: Annotated[int, typer.Option(help="First seed; images use consecutive seeds.")] = 1000,
    as_json: c.AsJson = False,
) -> None:
    """Judge generated images of every colour/shape/background prompt, on trained and held-out pairs.

    Examples:\n
      sdlab eval adherence\n
      sdlab eval adherence --cfg 1 --cfg 3 --cfg 5 --cfg 7.5 --cfg 10 --cfg 15 --images 66
    """
    from sdlab.errors import UsageError
    from sdlab.eval.adherence import measure

    with c.user_errors():
        if images < 1:
            raise UsageError("images", f"must be at least 1, got {images}")
        rows = []
        for guidance in cfg or [None]:
            for held_out in (False, True):
                score = measure(c.engine(), held_out, images, model, guidance, steps, sampler, seed)
                rows.append({"cfg": guidance, "set": "held-out" if held_out else "trained", **score.as_dict(),
                             "misses": score.misses[:10]})
                if not as_json:
                    s = score.as_dict()
                    typer.echo(f"cfg {guidance if guidance is not None else 'default':>7}  {rows[-1]['set']:<8}  "
                               f"n={s['images']:<4} full {s['full']:6.1%}  colour {s['colour']:6.1%}  "
                               f"shape {s['shape']:6.1%}  background {s['background']:6.1%}  "
                               f"one object {s['single_object']:6.1%}  clipped px {s['clipped']:6.2%}")
        if as_json:
            c.print_json(rows)


@app.command()
def inpainting(
    cases: Annotated[int, typer.Option(help="Objects to replace.")] = 100,
    model: c.Model = None,
    seed: Annotated[int, typer.Option(help="Seed of the cases and the generations.")] = 2000,
    only_masked: Annotated[bool, typer.Option("--only-masked", help="Inpaint a crop around the mask (padding 8).")] = False,
) -> None:
    """Replace a rendered object by another colour and shape through inpainting; judge it and check the rest.

    Examples:\n
      sdlab eval inpainting --cases 100\n
      sdlab eval inpainting --only-masked
    """
    from sdlab.errors import UsageError
    from sdlab.eval.inpainting import measure_inpainting

    with c.user_errors():
        if cases < 1:
            raise UsageError("cases", f"must be at least 1, got {cases}")
        score = measure_inpainting(c.engine(), cases, model, seed, only_masked=only_masked)
        typer.echo(f"inpainting ({'only masked' if only_masked else 'whole picture'}): {score.success}/{score.cases} = {score.rate():.1%} judged as asked; "
                   f"largest change outside the mask {score.max_change_outside}/255")


@app.command()
def subject(
    output: Annotated[str, typer.Option("--output", "-o", help="Folder for the data, the LoRAs and results.json.")] = "outputs/subject",
    rank: Annotated[Optional[list[int]], typer.Option(help="LoRA rank; repeat for a grid (default 4 and 8).")] = None,
    steps: Annotated[Optional[list[int]], typer.Option(help="Training steps; repeat for a grid (default 150, 300, 600).")] = None,
    lr: Annotated[float, typer.Option(help="Learning rate (UNet; the text encoder gets half).")] = 3e-3,
    targets: Annotated[str, typer.Option(help="UNet layers with LoRA: attention, transformer or all (with ResNet convs).")] = "all",
    per_prompt: Annotated[int, typer.Option(help="Images per test prompt (6 prompts).")] = 4,
) -> None:
    """The LoRA subject exercise: teach the embedded model "a sks star" from 15 images, judge identity and fidelity.

    Training images show red/green/purple stars on white/black; test prompts ask for blue/yellow/orange
    stars on gray/pink. Identity: a star is drawn; fidelity: with the asked colour and background.

    Examples:\n
      sdlab eval subject\n
      sdlab eval subject --rank 8 --steps 600
    """
    import json
    from pathlib import Path

    from sdlab.atomic import write_bytes
    from sdlab.errors import UsageError
    from sdlab.eval.subject import subject_grid

    with c.user_errors():
        for name, values in (("rank", rank or []), ("steps", steps or []), ("per-prompt", [per_prompt])):
            if any(v < 1 for v in values):
                raise UsageError(name, f"must be at least 1, got {min(values)}")
        rows = subject_grid(c.engine(), Path(output), rank or [4, 8], steps or [150, 300, 600], lr, targets,
                            per_prompt=per_prompt, log=typer.echo)
        write_bytes(Path(output) / "results.json", json.dumps(rows, indent=2).encode(), overwrite=True)
