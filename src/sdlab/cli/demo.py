"""`sdlab demo`: the embedded model drawing a handful of prompts, judged and gridded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sdlab.cli import common as c


def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the grid (numbered, never overwritten).")] = Path("outputs/demo"),
    model: c.Model = None, seed: Annotated[int, typer.Option(help="Seed of every image.")] = 1,
    steps: c.Steps = None, cfg: c.Cfg = None, as_json: c.AsJson = False,
) -> None:
    """Generate the demo prompts, print the judge's verdict for each, write a labelled grid.

    Examples:\n
      sdlab demo\n
      sdlab demo --seed 7 --cfg 7.5 -o outputs/demo
    """
    from sdlab.outputs import check_folder, save_numbered
    from sdlab.eval.demo import label, run_demo
    from sdlab.eval.grid import labelled_grid

    check_folder(output)
    rows = run_demo(c.engine(), model, seed, steps, cfg)
    grid = labelled_grid([r.image for r in rows], [label(r) for r in rows], columns=4)
    path = save_numbered(grid, output, seed, None)
    correct = sum(r.correct for r in rows)
    if as_json:
        c.print_json({"grid": str(path), "correct": correct, "total": len(rows),
                      "rows": [{"prompt": r.prompt, "judge": r.seen, "held_out": r.held_out, "correct": r.correct}
                               for r in rows]})
        return
    for r in rows:
        mark = "ok  " if r.correct else "MISS"
        typer.echo(f"{mark} {r.prompt}\n       judge: {r.seen}{'  (held out)' if r.held_out else ''}")
    typer.echo(f"{correct}/{len(rows)} judged correct; grid: {path}")
