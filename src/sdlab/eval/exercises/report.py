"""What every exercise returns and writes: the sweep, a table, the answer from the numbers, report.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from sdlab.atomic import write_bytes
from sdlab.eval.sweep import Sweep


@dataclass
class Exercise:
    sweep: Sweep
    table: list[dict]
    answer: str
    report: Path


def summarise(sweep: Sweep) -> list[dict]:
    """Metrics per X value, averaged over the Y values (prompt variants)."""
    reserved = {sweep.x.name, sweep.y.name if sweep.y else None, "cell", "first_image"}
    metrics = [k for k in dict.fromkeys(k for r in sweep.rows for k in r) if k not in reserved]
    table = []
    for value in sweep.x.values:
        rows = [r for r in sweep.rows if r[sweep.x.name] == value]
        table.append({sweep.x.name: value, **{m: mean(r[m] for r in rows if m in r) for m in metrics if any(m in r for r in rows)}})
    return table


def write_report(sweep: Sweep, title: str, question: str, answer: str, table: list[dict], plots: list[str],
                 notes: str = "") -> Path:
    """report.md in the sweep folder: question, answer, grid, table, plots."""
    keys = list(table[0])
    lines = [f"# {title}", "", f"**Question.** {question}", "", f"**Answer, from the numbers.** {answer}", "",
             "![grid](grid.png)", "", "| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    for row in table:
        lines.append("| " + " | ".join(f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")
    lines += ["", *[f"![{k}](plot-{k}.png)" for k in plots], ""]
    if notes:
        lines += [notes, ""]
    lines.append(f"{len(sweep.rows)} cells; images, per-cell metrics and metadata in cells/, all rows in results.csv.")
    report = sweep.folder / "report.md"
    write_bytes(report, ("\n".join(lines) + "\n").encode(), overwrite=True)
    return report
