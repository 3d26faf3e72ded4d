"""The img2img strength exercise: which strength keeps the input's composition while following the prompt?"""

from __future__ import annotations

from pathlib import Path

from sdlab.engine.engine import Engine
from sdlab.outputs import check_folder, save_png
from sdlab.eval.axes import Axis
from sdlab.eval.exercises.report import Exercise, summarise, write_report
from sdlab.eval.sweep import run_sweep
from sdlab.errors import UsageError
from sdlab.eval.worlds import judged_world

STRENGTH = (0.2, 0.4, 0.6, 0.8, 1.0)


def strength_exercise(engine: Engine, folder: Path, image: Path | None = None, prompt: str | None = None,
                      model: str | None = None, images: int = 4, seed: int = 7, values=STRENGTH, clip=None,
                      progress=None, overwrite: bool = False) -> Exercise:
    """Sweep img2img strength from an input; name the strongest setting that keeps the composition
    (the object's outline on the embedded model's world, SSIM elsewhere) and where the prompt takes over."""
    check_folder(folder)
    world = judged_world(model)
    if world is None and image is None:
        raise UsageError("image", "give an input image for a model other than sdlab's own")
    if world is None and prompt is None:
        raise UsageError("prompt", "give a prompt for a model other than sdlab's own (they have default prompts)")
    if image is None:  # the world's default input; its prompt describes it, --prompt asks for changes
        image = folder / "input.png"
        save_png(world.strength_input(), image, overwrite=True)
    base = {"prompt": prompt or world.strength_prompt, "model": model, "seed": seed, "batch_size": images,
            "task": "img2img", "image": str(image)}
    sweep = run_sweep(engine, {k: v for k, v in base.items() if v is not None}, Axis("strength", tuple(values)), None,
                      folder, clip=clip, progress=progress, overwrite=overwrite)
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
    report = write_report(sweep, "Image-to-image strength sweep", "Which strength keeps the composition?", answer,
                          table, list(table[0])[1:])
    return Exercise(sweep, table, answer, report)
