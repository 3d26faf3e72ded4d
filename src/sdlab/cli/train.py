"""`sdlab train-base`: train the embedded model's kind of model from scratch on the synthetic world."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer


def train_base(
    output: Annotated[str, typer.Argument(help="Run folder: checkpoint, latent cache, tokenizer, and model/ at the end.")],
    seed: Annotated[int, typer.Option(help="Seed of data, initialisation and noise.")] = 0,
    vae_steps: Annotated[Optional[int], typer.Option(help="VAE optimisation steps (default 1500).")] = None,
    unet_steps: Annotated[Optional[int], typer.Option(help="UNet + text encoder steps (default 6000).")] = None,
    unet_batch: Annotated[Optional[int], typer.Option(help="UNet batch size (default 48).")] = None,
    unet_lr: Annotated[Optional[float], typer.Option(help="Peak UNet learning rate, one-cycle (default 5e-4).")] = None,
    vae_lr: Annotated[Optional[float], typer.Option(help="Peak VAE learning rate, one-cycle (default 1e-3).")] = None,
    dataset_size: Annotated[Optional[int], typer.Option(help="Rendered training images, encoded once (default 30000).")] = None,
    recipe: Annotated[str, typer.Option(help="shapes (sdlab-shapes: 64x64, one object) or shapes2 (128x128, "
                                             "one to three objects, SD 1.5's architecture in miniature).")] = "shapes",
    tiny: Annotated[bool, typer.Option(help="A seconds-long smoke configuration of the recipe instead of the real one.")] = False,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps now; run again to resume.")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Only write the run's latest checkpoint (EMA weights) as a "
                                                        "diffusers folder here, to judge it mid-way; trains nothing.")] = None,
) -> None:
    """Train VAE, tokenizer, text encoder and UNet from scratch on CPU; resumable from the run folder.

    Examples:\n
      sdlab train-base runs/shapes                 # the shipped model's recipe, about an hour on 2 cores\n
      sdlab train-base runs/smoke --tiny           # seconds: checks the whole pipeline\n
      sdlab train-base runs/shapes2 --recipe shapes2  # world 2, SD 1.5's architecture in miniature\n
      sdlab train-base runs/shapes --max-steps 500 # time-boxed; the same command resumes\n
      sdlab train-base runs/shapes2 --export runs/shapes2-at-4000  # the checkpoint so far, to evaluate
    """
    from sdlab.errors import UsageError
    from sdlab.training.base.config import RECIPES
    from sdlab.training.base.trainer import train_base as run

    if not output.strip():
        raise UsageError("output", "needs a run folder, e.g. runs/shapes")
    if export is not None:
        from sdlab.training.base.trainer import export_snapshot

        typer.echo(str(export_snapshot(Path(output), export)))
        return
    overrides = {k: v for k, v in dict(seed=seed, vae_steps=vae_steps, unet_steps=unet_steps, unet_batch=unet_batch,
                                       unet_lr=unet_lr, vae_lr=vae_lr, dataset_size=dataset_size).items() if v is not None}
    if recipe not in RECIPES:
        raise UsageError("recipe", f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    full, smoke = RECIPES[recipe]
    config = dataclasses.replace(smoke if tiny else full, **overrides)
    model = run(Path(output), config, log=lambda message: typer.echo(message, err=True), max_steps=max_steps)
    typer.echo(f"stopped after {max_steps} steps; run the same command to resume" if model is None else str(model))
