"""The guidance exercise: where do artefacts appear as the guidance scale rises, and where is adherence best?"""

from __future__ import annotations

from pathlib import Path

from sdlab.engine.engine import Engine
from sdlab.errors import UsageError
from sdlab.eval.axes import Axis
from sdlab.eval.exercises.report import Exercise, summarise, write_report
from sdlab.eval.sweep import run_sweep
from sdlab.eval.worlds import judged_world

GUIDANCE = (1.0, 3.0, 5.0, 7.5, 10.0, 15.0)


def guidance_exercise(engine: Engine, folder: Path, model: str | None = None, prompt: str | None = None,
                      images: int = 8, seed: int = 7, values=GUIDANCE, clip=None, progress=None,
                      overwrite: bool = False) -> Exercise:
    """Sweep the guidance scale; name where artefacts (clipped pixels) rise and where adherence peaks."""
    world = judged_world(model)
    if world is None and prompt is None:
        raise UsageError("prompt", "give a prompt for a model other than sdlab's own (they have default prompts)")
    base = {"prompt": prompt or world.guidance_prompt, "model": model, "seed": seed, "batch_size": images}
    # On a model of sdlab's worlds, prompt S/R variants too, so the numbers do not rest on one prompt.
    y = Axis("prompt", world.guidance_variants) if world is not None and prompt is None else None
    sweep = run_sweep(engine, {k: v for k, v in base.items() if v is not None}, Axis("cfg", tuple(values)), y,
                      folder, clip=clip, progress=progress, overwrite=overwrite)
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
    report = write_report(sweep, "Guidance sweep", "Where do artefacts appear as the guidance scale rises?", answer,
                          table, list(table[0])[1:])
    return Exercise(sweep, table, answer, report)
