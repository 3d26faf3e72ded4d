"""`sdlab eval adherence`: how often the judge finds what the prompt asked for."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from sdlab.cli import common as c
from sdlab.cli.errors import SdlabCommand, SdlabGroup

app = typer.Typer(cls=SdlabGroup, help="Measure models: prompt adherence on the synthetic world.", no_args_is_help=True)


@app.command(cls=SdlabCommand)
def adherence(
    images: Annotated[int, typer.Option(help="Images per set (trained pairs, held-out pairs).")] = 200,
    cfg: Annotated[Optional[list[float]], typer.Option(help="Guidance scale; repeat to sweep.")] = None,
    model: c.Model = None, steps: c.Steps = None, sampler: c.Sampler = None,
    seed: Annotated[int, typer.Option(help="First seed; images use consecutive seeds.")] = 1000,
    as_json: c.AsJson = False,
) -> None:
    """Judge generated images of every colour/shape/background prompt, on trained and held-out pairs.

    A model of world 2 (sdlab-shapes 2) is scored per kind of prompt: single object, position, two and three
    objects, each on trained and held-out combinations.

    Examples:\n
      sdlab eval adherence\n
      sdlab eval adherence --cfg 1 --cfg 3 --cfg 5 --cfg 7.5 --cfg 10 --cfg 15 --images 66
    """
    from sdlab.engine.sources import model_world
    from sdlab.errors import UsageError
    from sdlab.eval.adherence import measure
    from sdlab.world2 import WORLD as WORLD2

    if images < 1:
        raise UsageError("images", f"must be at least 1, got {images}")
    if model_world(model) == WORLD2:
        _adherence2(images, cfg, model, steps, sampler, seed, as_json)
        return
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


def _adherence2(images: int, cfg, model, steps, sampler, seed: int, as_json: bool) -> None:
    from sdlab.eval.adherence2 import KINDS, measure2

    rows = []
    for guidance in cfg or [None]:
        for kind in KINDS:
            for held_out in (False, True):
                score = measure2(c.engine(), kind, held_out, images, model, guidance, steps, sampler, seed)
                rows.append({"cfg": guidance, "kind": kind, "set": "held-out" if held_out else "trained",
                             **score.as_dict(), "misses": score.misses[:10]})
                if not as_json:
                    s = score.as_dict()
                    typer.echo(f"cfg {guidance if guidance is not None else 'default':>7}  {kind:<8}  "
                               f"{rows[-1]['set']:<8}  n={s['images']:<4} full {s['full']:6.1%}  "
                               f"count {s['count']:6.1%}  background {s['background']:6.1%}")
    if as_json:
        c.print_json(rows)


@app.command(cls=SdlabCommand)
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

    if cases < 1:
        raise UsageError("cases", f"must be at least 1, got {cases}")
    score = measure_inpainting(c.engine(), cases, model, seed, only_masked=only_masked)
    typer.echo(f"inpainting ({'only masked' if only_masked else 'whole picture'}): {score.success}/{score.cases} = {score.rate():.1%} judged as asked; "
               f"largest change outside the mask {score.max_change_outside}/255")


@app.command(cls=SdlabCommand)
def vae(
    scenes: Annotated[int, typer.Option(help="Scenes of the model's world to round-trip.")] = 200,
    model: c.Model = None,
    seed: Annotated[int, typer.Option(help="Seed of the scenes.")] = 0,
    as_json: c.AsJson = False,
) -> None:
    """Judge how much of the model's synthetic world survives its VAE (the ceiling of every judged score).

    Each scene is encoded and decoded; it counts when the judge reads the same objects and background.

    Examples:\n
      sdlab eval vae\n
      sdlab eval vae --scenes 1000 --json
    """
    from sdlab.engine.sources import model_world
    from sdlab.errors import UsageError
    from sdlab.eval.vae import vae_fidelity
    from sdlab.requests import build_request
    from sdlab.training.base.worlds import WORLDS

    if scenes < 1:
        raise UsageError("scenes", f"must be at least 1, got {scenes}")
    world = model_world(model)
    if world not in WORLDS:
        raise UsageError("model", "is not a model of one of sdlab's synthetic worlds (its sdlab.json names no "
                         f"world); known worlds: {', '.join(WORLDS)}")
    loaded = c.engine().load(build_request(prompt="", model=model))
    score = vae_fidelity(loaded.pipe.vae, WORLDS[world], scenes, seed)
    if as_json:
        c.print_json({**score.as_dict(), "misses": score.misses})
        return
    typer.echo(f"{world}: {score.rate:.1%} of {scenes} scenes read the same after the VAE round trip")
    for count, rate in score.as_dict()["by_objects"].items():
        typer.echo(f"  {count} object{'s' if count != 1 else ''}: {rate:6.1%} of {score.scenes[count]}")
