"""Running a sweep as a job: `eval.sweep.run_sweep` into the job's folder, stopping between cells when cancelled."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from sdlab.engine.engine import Engine
from sdlab.eval.axes import parse_axis
from sdlab.eval.sweep import run_sweep


class _Stopped(Exception):
    """Raised between cells when the job is cancelled."""


def sweep_axes(x: str, y: str | None, max_cells: int) -> dict[str, Any]:
    """A sweep's axes as a job stores them, checked (UsageError naming x or y)."""
    parse_axis(x, "x")
    if y:
        parse_axis(y, "y")
    return {"x": x, "y": y or None, "max_cells": max_cells}


def run_sweep_job(engine: Engine, base: dict[str, Any], axes: dict[str, Any], folder: Path,
                  cancel: threading.Event, report: Callable[[int, int], None]) -> tuple[dict[str, Any], bool]:
    """Run the sweep; (its record, whether it was cancelled). The record names the files written in `folder`."""
    x = parse_axis(axes["x"], "x")
    y = parse_axis(axes["y"], "y") if axes.get("y") else None

    def progress(done: int, total: int, _seconds: float) -> None:
        report(done, total)
        if cancel.is_set() and done < total:
            raise _Stopped

    try:
        sweep = run_sweep(engine, base, x, y, folder, axes["max_cells"], progress=progress, overwrite=True)
    except _Stopped:
        return {"x": x.name, "y": y.name if y else None, "rows": [], "files": []}, True
    files = sorted(path.name for path in folder.iterdir() if path.is_file())
    return {"x": x.name, "y": y.name if y else None, "x_title": x.title, "y_title": y.title if y else None,
            "rows": sweep.rows, "files": files}, False
