"""The seeds' exercises as recipes: a sweep, a table, a plot and the answer, written up as report.md.

- guidance: where do artefacts appear as the guidance scale rises, and where is adherence best?
- strength: which img2img strength keeps the input's composition while following the prompt?
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from sdlab.atomic import write_bytes
from sdlab.engine.engine import Engine
from sdlab.eval.axes import Axis
from sdlab.eval.sweep import Sweep, run_sweep
from sdlab.world.render import Scene, render

GUIDANCE = (1.0, 3.0, 5.0, 7.5, 10.0, 15.0)
STRENGTH = (0.2, 0.4, 0.6, 0.8, 1.0)
WORLD_PROMPT = "a red circle on a white background"
#: Prompt S/R variants of WORLD_PROMPT, so the embedded model's numbers do not rest on one prompt.
WORLD_VARIANTS = ("red circle", "blue square", "green triangle", "purple square")
STRENGTH_PROMPT = "a blue square on a pink background"  # what the default input shows; --prompt asks for changes


@dataclass
class Exercise:
    sweep: Sweep
    table: list[dict]  # one row per X value, metrics averaged over Y
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


def _markdown(title: str, question: str, answer: str, table: list[dict], sweep: Sweep) -> str:
    keys = list(table[0])
    lines = [f"# {title}", "", f"**Question.** {question}", "", f"**Answer, from the numbers.** {answer}", "",
             "![grid](grid.png)", "", "| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    for row in table:
        lines.append("| " + " | ".join(f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")
    lines += ["", *[f"![{k}](plot-{k}.png)" for k in keys[1:]], "",
              f"{len(sweep.rows)} cells; images, per-cell metrics and metadata in cells/, all rows in results.csv."]
    return "\n".join(lines) + "\n"


def guidance_exercise(engine: Engine, folder: Path, model: str | None = None, prompt: str | None = None,
                      images: int = 8, seed: int = 7, values=GUIDANCE, clip=None, progress=None) -> Exercise:
    """Sweep the guidance scale; name where artefacts (clipped pixels) rise and where adherence peaks."""
    base = {"prompt": prompt or WORLD_PROMPT, "model": model, "seed": seed, "batch_size": images}
    y = Axis("prompt", WORLD_VARIANTS) if model is None and prompt is None else None
    sweep = run_sweep(engine, {k: v for k, v in base.items() if v is not None}, Axis("cfg", tuple(values)), y,
                      folder, clip=clip, progress=progress)
    table = summarise(sweep)
    default = min(table, key=lambda r: abs(r["cfg"] - 5.0))
    worst = max(table, key=lambda r: r["clipped"])
    rising = [r["cfg"] for r in table if r["cfg"] > default["cfg"] and r["clipped"] > default["clipped"] * 1.25]
    answer = (f"Clipped pixels are {default['clipped']:.2%} at guidance {default['cfg']:g} and {table[-1]['clipped']:.2%} at "
              f"{table[-1]['cfg']:g} (most: {worst['clipped']:.2%} at {worst['cfg']:g}); "
              + (f"artefacts rise above the default's by a quarter from guidance {rising[0]:g}. " if rising
                 else "no guidance above the default raises them by a quarter. "))
    if "adherence" in table[0]:
        top = max(r["adherence"] for r in table)
        best = ", ".join(f"{r['cfg']:g}" for r in table if r["adherence"] == top)
        answer += f"Adherence (judged) is best at guidance {best} ({top:.0%}) and {table[-1]['adherence']:.0%} at {table[-1]['cfg']:g}."
    report = folder / "report.md"
    write_bytes(report, _markdown("Guidance sweep", "Where do artefacts appear as the guidance scale rises?", answer,
                                  table, sweep).encode(), overwrite=True)
    return Exercise(sweep, table, answer, report)


def strength_exercise(engine: Engine, folder: Path, image: Path | None = None, prompt: str | None = None,
                      model: str | None = None, images: int = 4, seed: int = 7, values=STRENGTH, clip=None,
                      progress=None) -> Exercise:
    """Sweep img2img strength from an input; name the strongest setting that keeps the composition
    (the object's outline on the embedded model's world, SSIM elsewhere) and where the prompt takes over."""
    if image is None:
        image = folder / "input.png"
        buffer = render(Scene("square", "blue", "pink", 30, 34, 14))
        from sdlab.engine.images import save_png

        save_png(buffer, image, overwrite=True)
    base = {"prompt": prompt or STRENGTH_PROMPT, "model": model, "seed": seed, "batch_size": images,
            "task": "img2img", "image": str(image)}
    sweep = run_sweep(engine, {k: v for k, v in base.items() if v is not None}, Axis("strength", tuple(values)), None,
                      folder, clip=clip, progress=progress)
    table = summarise(sweep)
    measure, name = ("layout_iou", "object outline IoU >= 0.7") if "layout_iou" in table[0] else ("ssim", "SSIM >= 0.5")
    threshold = 0.7 if measure == "layout_iou" else 0.5
    kept = [r["strength"] for r in table if r[measure] >= threshold]
    answer = (f"PSNR to the input goes from {table[0]['psnr']:.1f} dB at strength {table[0]['strength']:g} to "
              f"{table[-1]['psnr']:.1f} dB at {table[-1]['strength']:g}; SSIM from {table[0]['ssim']:.2f} to {table[-1]['ssim']:.2f}"
              + (f"; layout IoU from {table[0]['layout_iou']:.2f} to {table[-1]['layout_iou']:.2f}" if measure == "layout_iou" else "")
              + ". " + (f"The composition ({name}) holds up to strength {max(kept):g}. " if kept
                        else f"No strength keeps the composition ({name}). "))
    if "adherence" in table[0]:
        follows = [r["strength"] for r in table if r["adherence"] >= 0.5]
        answer += (f"The prompt is followed (judged >= 50 %) from strength {min(follows):g}." if follows
                   else "The prompt is followed in under half the images at every strength.")
    report = folder / "report.md"
    write_bytes(report, _markdown("Image-to-image strength sweep", "Which strength keeps the composition?", answer,
                                  table, sweep).encode(), overwrite=True)
    return Exercise(sweep, table, answer, report)
