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

    Examples:\n
      sdlab models\n
      SDLAB_MODELS=/data/models sdlab models --json
    """
    from sdlab.engine.formats import detect_format
    from sdlab.engine.sources import EMBEDDED_NAME, embedded_path, file_family, folder_family, models_dir
    from sdlab.errors import SdlabError

    rows = []
    if (embedded_path() / "model_index.json").is_file():
        family, _ = folder_family(embedded_path())
        rows.append({"name": EMBEDDED_NAME, "kind": "embedded", "family": family.value, "path": str(embedded_path())})
    folder = models_dir()
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            if (entry / "model_index.json").is_file():
                family, inpainting = folder_family(entry)
                kind = "folder"
            elif entry.is_file() and detect_format(entry).value in ("safetensors", "torch zip (pickle)", "pickle"):
                family, inpainting = file_family(entry)
                kind = f"file ({detect_format(entry).value})"
            else:
                continue
        except SdlabError:
            continue
        rows.append({"name": entry.name, "kind": kind, "family": family.value + (" inpainting" if inpainting else ""),
                     "path": str(entry)})
    if as_json:
        c.print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<28} {row['kind']:<24} {row['family']:<16} {row['path']}")
    if len(rows) <= 1:
        typer.echo(f"(put diffusers folders or .safetensors checkpoints in {folder} to list them here)", err=True)


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
    from sdlab.engine.metadata import parse_infotext
    from sdlab.errors import UsageError

    with c.user_errors():
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

    Examples:\n
      sdlab loras ./loras\n
      sdlab loras --json
    """
    from sdlab.engine.lora import lora_dir
    from sdlab.engine.lora_info import describe
    from sdlab.errors import SdlabError, UsageError

    with c.user_errors():
        where = folder or lora_dir(None)
        if not where.is_dir():
            raise UsageError("folder", f"{where} is not a folder")
        rows = []
        for path in sorted(p for p in where.iterdir() if p.is_file() and p.suffix in (".safetensors", ".ckpt", ".pt")):
            try:
                rows.append(describe(path).as_dict())
            except SdlabError as exc:
                rows.append({"name": path.stem, "format": f"unreadable ({exc})", "rank": None, "base": "",
                             "triggers": [], "path": str(path)})
        if as_json:
            c.print_json(rows)
            return
        for row in rows:
            triggers = ", ".join(row["triggers"]) or "-"
            typer.echo(f"{row['name']:<24} {row['format']:<10} rank {row['rank'] or '?':<4} {row['base']:<26} triggers: {triggers}")
        if not rows:
            typer.echo(f"no LoRA files in {where}", err=True)
