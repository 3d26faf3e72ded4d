"""Sweeps: one request varied along X (and Y), every cell generated, measured and kept; resumable.

A sweep folder holds `cells/yNN-xNN/` (the images with their metadata and `cell.json`: the
request and its metrics), `grid.png` (axes titled, values on the margins), `results.csv` and
`results.json` (one row per cell) and `plot-METRIC.png` per metric. A cell whose `cell.json`
matches its request is not generated again, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PIL import Image

from sdlab.atomic import write_bytes
from sdlab.engine.engine import Engine
from sdlab.engine.images import open_image
from sdlab.errors import Fix, UsageError
from sdlab.eval.axes import PARAMETERS, Axis, apply
from sdlab.outputs import check_folder
from sdlab.eval.metrics import clip_score, clipped_fraction, diversity, layout_iou, psnr, rms_distance, ssim
from sdlab.requests import build_request
from sdlab.eval.worlds import JudgedWorld, judged_world

DEFAULT_MAX_CELLS = 100
#: Axes that walk from one point to another: their cells also measure `change`, the RMS distance of
#: each image to the same image at the row's first X value.
WALKS = ("variation-strength", "blend")


@dataclass
class Sweep:
    x: Axis
    y: Axis | None
    rows: list[dict] = field(default_factory=list)
    reused: int = 0
    folder: Path | None = None


def cell_metrics(fields: dict, images: list[Image.Image], clip=None, world: JudgedWorld | None = None) -> dict[str, float]:
    """What can be measured for a cell: artefacts and diversity always; faithfulness with an input image;
    judged adherence to the prompt (and to a blend prompt) when the model draws one of sdlab's worlds (`world`);
    CLIP score with a CLIP model."""
    metrics = {"clipped": sum(clipped_fraction(im) for im in images) / len(images)}
    if len(images) > 1:
        metrics["diversity"] = diversity(images)
    if fields.get("task") == "img2img" and fields.get("image") is not None:
        source = open_image(fields["image"]).convert("RGB")
        resized = [im.resize(source.size) if im.size != source.size else im for im in images]
        metrics["psnr"] = sum(min(psnr(source, im), 100.0) for im in resized) / len(images)
        metrics["ssim"] = sum(ssim(source, im) for im in resized) / len(images)
        if world is not None:  # the world's plain backgrounds make the object's outline measurable
            metrics["layout_iou"] = sum(layout_iou(source, im) for im in resized) / len(images)
    if world is not None:  # the world's judge reads prompts of its own grammar
        for key, metric in (("prompt", "adherence"), ("blend_prompt", "adherence_blend")):
            check = world.prompt_check(fields.get(key) or "")
            if check is not None:
                metrics[metric] = sum(map(check, images)) / len(images)
    if clip is not None:
        scores = clip_score(images, [fields.get("prompt", "")] * len(images), clip)
        metrics["clip_score"] = sum(scores) / len(scores)
    return metrics


def jsonable(fields: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in fields.items()}


def run_sweep(engine: Engine, base: dict, x: Axis, y: Axis | None, folder: Path, max_cells: int = DEFAULT_MAX_CELLS,
              clip=None, progress: Callable[[int, int, float], None] | None = None, overwrite: bool = False) -> Sweep:
    """Generate and measure every cell of the X (x Y) grid into `folder`, reusing finished cells
    (`overwrite` drops them, once every cell has been checked)."""
    check_folder(folder)
    base = _fixed_seeds(base, folder if not overwrite else None, {x.name, y.name if y else None})
    sweep = Sweep(x, y, folder=folder)

    def prepared(request):
        engine.prepare(request)  # inputs, LoRAs, sampler and schedule against the model: before any cell runs
        return request

    cells = plan_cells(base, x, y, max_cells, prepared)
    total = len(cells)
    if overwrite and (folder / "cells").is_dir():
        shutil.rmtree(folder / "cells")
    world = judged_world(base.get("model"))
    started, done = time.time(), 0
    row_starts: dict[int, list[Image.Image]] = {}  # a walk's first images per row, for `change`
    for iy, ix, y_value, x_value, fields, request in cells:
        cell_dir = folder / "cells" / f"y{iy:02d}-x{ix:02d}"
        record = load_cell(cell_dir, fields)
        if record is None:
            result = engine.generate(request)
            names = []
            for index, item in enumerate(result.images):
                names.append(item.save(cell_dir / f"{index:02d}-{item.seed}.png", overwrite=True).name)
            images = [i.image for i in result.images]
            metrics = cell_metrics(fields, images, clip, world)
            if x.name in WALKS:
                firsts = images if ix == 0 else row_starts.get(iy) or _cell_images(folder / "cells" / f"y{iy:02d}-x00")
                row_starts[iy] = firsts
                metrics["change"] = sum(map(rms_distance, images, firsts)) / len(images)
            record = {"fields": jsonable(fields), "images": names, "metrics": metrics}
            write_bytes(cell_dir / "cell.json", json.dumps(record, indent=2).encode(), overwrite=True)
        else:
            sweep.reused += 1
        row = {x.name: x_value, **({y.name: y_value} if y is not None else {}), **record["metrics"],
               "cell": str(cell_dir.relative_to(folder)), "first_image": record["images"][0]}
        sweep.rows.append(row)
        done += 1
        if progress is not None:
            progress(done, total, time.time() - started)
    write_results(sweep)
    return sweep


def plan_cells(base: dict, x: Axis, y: Axis | None, max_cells: int, check: Callable = lambda request: request) -> list:
    """Every cell of the grid as (iy, ix, y value, x value, fields, checked request), each request built and passed
    to `check` (which may refuse it), before anything runs; an error names the axis and value that caused it."""
    y_values = y.values if y is not None else (None,)
    total = len(x.values) * len(y_values)
    if total > max_cells:
        raise UsageError("max-cells", f"the grid has {total} cells ({len(x.values)} x {len(y_values)}), over the "
                         f"limit of {max_cells}", fix=Fix("max_cells", f"pass {{option}} {total} to run it"))
    if y is not None and PARAMETERS[x.name][0] == PARAMETERS[y.name][0]:
        raise UsageError("y", f"sweeps {y.name} like the X axis; choose another parameter (or put every value on X)")
    cells = []
    for iy, y_value in enumerate(y_values):
        for ix, x_value in enumerate(x.values):
            fields = apply(base, x, x_value)
            if y is not None:
                fields = apply(fields, y, y_value)
            try:
                request = check(build_request(**fields))
            except UsageError as exc:
                raise _blame_axis(exc, ((x, x_value), (y, y_value))) from None
            cells.append((iy, ix, y_value, x_value, fields, request))
    return cells


def _blame_axis(exc: UsageError, cells: tuple) -> UsageError:
    """An error about a value an axis set, as an error of that axis (-x, -y) naming the value."""
    field = (exc.argument or "").replace("-", "_")
    for axis, value in cells:
        names = ("width", "height") if axis is not None and axis.name == "size" else \
            (PARAMETERS[axis.name][0], PARAMETERS[axis.name][0].removesuffix("s")) if axis is not None else ()
        if field in names:
            return UsageError(axis.option, f"{axis.name}={axis.label(value)}: {exc.message}", exc.fix)
    return exc


def _fixed_seeds(base: dict, folder: Path | None, swept: set) -> dict:
    """One seed (and variation seed) for every cell, so cells differ only by the axes; kept on resume
    (`folder` None: a fresh start)."""
    base = dict(base)
    recorded = read_cell(folder / "cells" / "y00-x00").get("fields", {}) if folder is not None else {}
    for name, axis in (("seed", "seed"), ("variation_seed", "variation-seed")):
        if base.get(name, -1) == -1 and (name == "seed" or base.get("variation_strength") or "variation-strength" in swept):
            kept = recorded.get(name)
            base[name] = kept if isinstance(kept, int) and axis not in swept else random.randint(0, 2**31 - 1)
    return base


def _cell_images(cell_dir: Path) -> list[Image.Image]:
    """The images a finished cell recorded, in order."""
    return [open_image(cell_dir / name, "output") for name in read_cell(cell_dir)["images"]]


def read_cell(cell_dir: Path) -> dict:
    """A finished cell's record ({} when there is none); a damaged one says which file and how to start over."""
    path = cell_dir / "cell.json"
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not (isinstance(record, dict) and isinstance(record.get("fields"), dict)
            and isinstance(record.get("images"), list) and record["images"]
            and all(isinstance(n, str) and (cell_dir / n).is_file() for n in record["images"])
            and isinstance(record.get("metrics"), dict)):
        raise UsageError("output", f"{path} is damaged or its images are missing; remove {cell_dir} to redo that "
                         "cell", fix=Fix("overwrite", "or pass {option} to start the sweep over"))
    return record


def load_cell(cell_dir: Path, fields: dict) -> dict | None:
    record = read_cell(cell_dir)
    if not record:
        return None
    if record["fields"] != json.loads(json.dumps(jsonable(fields))):
        raise UsageError("output", f"{cell_dir} holds a cell of another sweep; use another folder",
                         fix=Fix("overwrite", "or pass {option} to start over"))
    return record


def write_results(sweep: Sweep) -> None:
    """results.csv, results.json, grid.png and one plot per metric, all written atomically."""
    from sdlab.eval.grid import axes_grid
    from sdlab.eval.plots import plot_metric

    folder = sweep.folder
    keys = list(dict.fromkeys(k for row in sweep.rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(sweep.rows)
    write_bytes(folder / "results.csv", buffer.getvalue().encode(), overwrite=True)
    write_bytes(folder / "results.json", json.dumps(sweep.rows, indent=2).encode(), overwrite=True)
    images = [open_image(folder / row["cell"] / row["first_image"]) for row in sweep.rows]
    y_values = sweep.y.values if sweep.y is not None else ()
    grid = axes_grid(images, [sweep.x.label(v) for v in sweep.x.values], [sweep.y.label(v) for v in y_values],
                     sweep.x.title, sweep.y.title if sweep.y is not None else "")
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    write_bytes(folder / "grid.png", buffer.getvalue(), overwrite=True)
    reserved = {sweep.x.name, sweep.y.name if sweep.y else None, "cell", "first_image"}
    for metric in [k for k in keys if k not in reserved]:
        write_bytes(folder / f"plot-{metric}.png", plot_metric(sweep, metric), overwrite=True)
