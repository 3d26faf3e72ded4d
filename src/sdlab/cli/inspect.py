"""`sdlab samplers`, `sdlab models`, `sdlab info`: what is available, what an image was made with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sdlab.cli import common as c


def samplers(as_json: c.AsJson = False) -> None:
    """List sampler names (case-insensitive; aliases accepted) and schedule types.

    Examples:\n
      sdlab samplers\n
      sdlab generate "a red circle" --sampler "DPM++ 2M Karras"
    """
    from sdlab.engine.samplers import SAMPLERS, SCHEDULES

    if as_json:
        c.print_json({"samplers": [{"name": s.name, "scheduler": s.scheduler, "options": dict(s.options),
                                    "aliases": list(s.aliases)} for s in SAMPLERS],
                      "schedules": list(SCHEDULES)})
        return
    width = max(len(s.name) for s in SAMPLERS)
    for s in SAMPLERS:
        options = ", ".join(f"{k}={v}" for k, v in s.options.items())
        typer.echo(f"{s.name:<{width}}  {s.scheduler}{f' ({options})' if options else ''}  aliases: {', '.join(s.aliases)}")
    typer.echo(f"\nschedule types (--schedule, or append to the name as in 'DPM++ 2M Karras'): {', '.join(SCHEDULES)}")


def models(as_json: c.AsJson = False) -> None:
    """List the embedded model and the models in $SDLAB_MODELS (default ~/.cache/sdlab/models).

    An entry that cannot be read is listed as unreadable, with the reason.

    Examples:\n
      sdlab models\n
      SDLAB_MODELS=/data/models sdlab models --json
    """
    from sdlab.engine.sources import list_models, models_dir

    rows = [row.as_dict() for row in list_models()]
    if as_json:
        c.print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<28} {row['kind']:<24} {row.get('problem') or row['family']:<16} {row['path']}")
    if len(rows) <= 1:
        typer.echo(f"(put diffusers folders or .safetensors checkpoints in {models_dir()} to list them here)", err=True)


def info(
    image: Annotated[Path, typer.Argument(help="A PNG (or JPEG/WEBP) made by sdlab or AUTOMATIC1111.")],
    as_json: c.AsJson = False,
) -> None:
    """Print the generation parameters stored in an image.

    Examples:\n
      sdlab info outputs/00000-1.png\n
      sdlab info a1111.png --json
    """
    from sdlab.engine.images import read_parameters
    from sdlab.requests.infotext import parse_infotext
    from sdlab.errors import UsageError

    text = read_parameters(image)
    if not text:
        raise UsageError("image", f"{image} carries no generation parameters")
    if as_json:
        c.print_json(parse_infotext(text))
    else:
        typer.echo(text)


def loras(
    folder: Annotated[Optional[Path], typer.Argument(help="Folder of LoRA files (default $SDLAB_LORAS).")] = None,
    as_json: c.AsJson = False,
) -> None:
    """List LoRA files with their format, rank, base model and trigger words (read from the headers only).

    A file that cannot be read is listed as unreadable, with the reason.

    Examples:\n
      sdlab loras ./loras\n
      sdlab loras --json
    """
    from sdlab.engine.lora import lora_dir
    from sdlab.engine.lora_info import list_loras
    from sdlab.errors import UsageError

    where = folder or lora_dir(None)
    if not where.is_dir():
        raise UsageError("folder", f"{where} is not a folder")
    rows = [info.as_dict() for info in list_loras(where)]
    if as_json:
        c.print_json(rows)
        return
    for row in rows:
        triggers = ", ".join(row["triggers"]) or "-"
        typer.echo(f"{row['name']:<24} {row['format']:<10} rank {row['rank'] or '?':<4} {row['base']:<26} triggers: {triggers}")
    if not rows:
        typer.echo(f"no LoRA files in {where}", err=True)
