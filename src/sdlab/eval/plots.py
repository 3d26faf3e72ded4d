"""Plots of sweep metrics (matplotlib, drawn off-screen)."""

from __future__ import annotations

import io


def plot_metric(sweep, metric: str) -> bytes:
    """PNG bytes: `metric` against the X values, one line per Y value."""
    from matplotlib.figure import Figure  # a bare Figure draws with Agg; pyplot's global state is never touched

    figure = Figure(figsize=(6, 4), dpi=100)
    axes = figure.subplots()
    numeric = all(isinstance(v, (int, float)) for v in sweep.x.values)
    positions = list(sweep.x.values) if numeric else list(range(len(sweep.x.values)))
    series = sweep.y.values if sweep.y is not None else (None,)
    for y_value in series:
        rows = [r for r in sweep.rows if sweep.y is None or r[sweep.y.name] == y_value]
        values = [r.get(metric) for r in rows]
        if all(v is None for v in values):
            continue
        label = None if y_value is None else f"{sweep.y.title} {sweep.y.label(y_value)}"
        axes.plot(positions[: len(values)], [float("nan") if v is None else v for v in values], marker="o", label=label)
    if not numeric:
        axes.set_xticks(positions, [sweep.x.label(v) for v in sweep.x.values], rotation=20)
    axes.set_xlabel(sweep.x.title)
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    if sweep.y is not None:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
