"""The LoRA exercise: a rank x steps grid of trainings, each scored for identity and prompt fidelity.

On a model of sdlab's synthetic worlds the subject is a star, a shape the model has never drawn, and
the world's judge scores it (eval/subject.py, eval/subject2.py): identity = a star is drawn; fidelity =
a star of the asked colour on the asked background, for colours and backgrounds the training images
never showed (in world 2 also beside an object the base knows). On any other model
the subject is the user's folder, scored with CLIP as DreamBooth does (Ruiz et al. 2023): identity
= CLIP-I, the cosine of generated images to the training images; fidelity = CLIP-T, the CLIP score
of each image against its prompt with the class word in place of the trigger.

Each rank is trained once: a constant-schedule run is resumed to each larger step count, so the
cells of a row are snapshots of one training. Finished cells are kept, so the exercise resumes.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from sdlab.atomic import write_bytes
from sdlab.engine.engine import Engine
from sdlab.engine.images import open_image
from sdlab.errors import UsageError
from sdlab.eval.axes import Axis
from sdlab.eval.exercises.report import Exercise, write_report
from sdlab.eval.metrics import clip_image_similarity, clip_score
from sdlab.eval.sweep import Sweep, jsonable, load_cell, write_results
from sdlab.outputs import check_folder
from sdlab.requests import build_request
from sdlab.requests.lora_training import UNET_TARGETS
from sdlab.eval.worlds import judged_world

RANKS, STEPS = (4, 8), (150, 300, 600)
#: Test prompts for a user's subject; {subject} is the trigger (generation) or the class word (CLIP-T).
TEMPLATES = ("a photo of {subject}", "{subject} on a beach", "{subject} in the snow", "a watercolour painting of {subject}",
             "{subject} in a city street at night", "a close-up of {subject} on a wooden table")


@dataclass(frozen=True)
class Plan:
    """What every cell of the grid shares; a finished cell is reused only under the same plan."""

    scorer: str  # "judge" (a shape the synthetic world's model never saw) or "clip" (your subject)
    data: str
    model: str | None
    trigger: str
    templates: tuple[str, ...]
    lr: float | None  # None: the model card's default
    batch_size: int | None
    targets: str
    train_text_encoder: bool
    per_prompt: int
    seed: int
    resolution: int | None  # training and test images; None = the model's default size

    @property
    def judged(self) -> bool:
        return self.scorer == "judge"


def lora_exercise(engine: Engine, folder: Path, model: str | None = None, data: Path | None = None,
                  trigger: str | None = None, templates: tuple[str, ...] | None = None, clip=None,
                  ranks=RANKS, steps=STEPS, lr: float | None = None, batch_size: int | None = None, per_prompt: int = 4,
                  targets: str = "all", train_text_encoder: bool = True, seed: int = 0, resolution: int | None = None,
                  progress: Callable[[int, int, float], None] | None = None, overwrite: bool = False) -> Exercise:
    """Train and score every rank x steps cell into `folder`; name the best cell in report.md.
    Finished cells are kept unless `overwrite` (then they and the trained LoRAs are dropped, once the options are checked)."""
    ranks, steps = _grid(ranks, steps)
    if targets not in UNET_TARGETS:
        raise UsageError("targets", f"unknown target set {targets!r}; valid: {', '.join(UNET_TARGETS)}")
    world = judged_world(model) if data is None else None
    subjects = world.subjects if world is not None else None
    judged = subjects is not None
    if not judged:
        _check_own_subject(data, trigger, templates, clip)
    check_folder(folder)
    for part in ("cells", "loras") if overwrite else ():
        if (folder / part).is_dir():
            shutil.rmtree(folder / part)
    data = subjects.write_subject_data(folder / "data") if judged else data
    plan = Plan("judge" if judged else "clip", str(data), model, subjects.TRIGGER if judged else trigger,
                () if judged else tuple(templates or TEMPLATES), lr or (subjects.EXERCISE_LR if judged else 1e-4),
                batch_size or (subjects.EXERCISE_BATCH if judged else 1), targets, train_text_encoder, per_prompt,
                seed, resolution)
    references = None if judged else _training_images(Path(plan.data), plan.trigger)
    rows, started, total = [], time.time(), len(ranks) * len(steps)
    for rank in ranks:
        for count in steps:
            cell = folder / "cells" / f"rank{rank}-steps{count}"
            fields = {"rank": rank, "steps": count, **asdict(plan)}
            record = load_cell(cell, fields)
            if record is None:
                lora = _train(plan, folder / "loras" / f"rank{rank}.safetensors", rank, count, cell)
                metrics = _judge(engine, subjects, lora, plan, cell) if judged else _clip(engine, lora, plan, cell, clip, references)
                record = {"fields": jsonable(fields), "metrics": metrics,
                          "images": sorted(p.name for p in cell.glob("*.png"))}
                write_bytes(cell / "cell.json", json.dumps(record, indent=2).encode(), overwrite=True)
            rows.append({"steps": count, "rank": rank, **record["metrics"], "cell": str(cell.relative_to(folder)),
                         "first_image": record["images"][0]})
            if progress is not None:
                progress(len(rows), total, time.time() - started)
    sweep = Sweep(Axis("steps", steps, "Training steps"), Axis("rank", ranks, "LoRA rank"), rows, folder=folder)
    write_results(sweep)
    table = [{k: v for k, v in r.items() if k not in ("cell", "first_image")} for r in rows]
    answer = _answer(table, judged)
    plots = [k for k in table[0] if k not in ("steps", "rank")]
    notes = _notes(judged)
    report = write_report(sweep, "LoRA rank x steps", "Which rank and steps keep the subject's identity without "
                          "over-fitting?", answer, table, plots, notes)
    return Exercise(sweep, table, answer, report)


def _grid(ranks, steps) -> tuple[tuple[int, ...], tuple[int, ...]]:
    for name, values in (("rank", ranks), ("steps", steps)):
        if not values:
            raise UsageError(name, "give at least one value")
        if any(v < 1 for v in values):
            raise UsageError(name, f"must be at least 1, got {min(values)}")
    return tuple(dict.fromkeys(ranks)), tuple(sorted(set(steps)))


def _check_own_subject(data: Path | None, trigger: str | None, templates, clip) -> None:
    if data is None:
        raise UsageError("data", "give the subject's images (--data FOLDER) for a model other than the embedded one")
    if not trigger or not trigger.strip():
        raise UsageError("trigger", "give the words that name the subject in prompts, e.g. --trigger 'sks dog'")
    for template in templates or ():
        if "{subject}" not in template:
            raise UsageError("prompt", f"{template!r} has no {{subject}} where the trigger goes, e.g. "
                             "'{subject} on a beach'")
    if clip is None:
        raise UsageError("clip-model", "your own subject is scored with CLIP (identity: CLIP-I, fidelity: CLIP-T); "
                         "give --clip-model, a local CLIP folder or a hub id when online")


def _training_images(data: Path, trigger: str) -> list:
    from sdlab.training.lora.data import scan

    examples, _ = scan(data, trigger)  # the images training will see, repeat folders included
    return [open_image(e.path).convert("RGB") for e in examples]


def _train(plan: Plan, live: Path, rank: int, count: int, cell: Path) -> Path:
    """The rank's LoRA at `count` steps: its one training resumed (a constant schedule extends), or started anew."""
    from sdlab.requests.lora_training import build_lora_request
    from sdlab.training.checkpoint import read_meta
    from sdlab.training.lora.trainer import CHECKPOINT, train_lora

    checkpoint = live.with_name(live.stem + ".training") / CHECKPOINT
    resume = checkpoint.is_file() and read_meta(checkpoint).get("step", count + 1) <= count
    chosen = {k: v for k, v in dict(batch_size=plan.batch_size, resolution=plan.resolution, unet_lr=plan.lr,
                                    text_encoder_lr=plan.lr and plan.lr / 2).items() if v is not None}
    request = build_lora_request(
        data=plan.data, output=str(live), model=plan.model, instance_prompt=None if plan.judged else plan.trigger,
        rank=rank, steps=count, train_text_encoder=plan.train_text_encoder, unet_targets=plan.targets,
        seed=plan.seed, overwrite=True, resume=resume, **chosen)
    train_lora(request, log=lambda _: None, progress=lambda *_: None)  # the exercise reports per cell
    kept = cell / "lora.safetensors"
    write_bytes(kept, live.read_bytes(), overwrite=True)
    return kept


def _judge(engine: Engine, subjects, lora: Path, plan: Plan, cell: Path) -> dict[str, float]:
    """Unseen colours/backgrounds at weight 1 (images kept), trained ones, and weight 0 (the LoRA off)."""
    unseen = subjects.score_subject(engine, lora, 1.0, plan.per_prompt, model=plan.model, samples=cell)
    seen = subjects.score_subject(engine, lora, 1.0, plan.per_prompt, model=plan.model, seen=True)
    off = subjects.score_subject(engine, lora, 0.0, plan.per_prompt, model=plan.model)
    return {"identity": unseen.identity, "fidelity": unseen.fidelity, "identity_seen": seen.identity,
            "identity_off": off.identity}


def _clip(engine: Engine, lora: Path, plan: Plan, cell: Path, clip, references: list) -> dict[str, float]:
    """CLIP-I to the training images and CLIP-T to the prompts (class word for the trigger), LoRA on and off."""
    class_word = plan.trigger.split()[-1]
    metrics = {}
    for weight, suffix in ((1.0, ""), (0.0, "_off")):
        images, texts = [], []
        for index, template in enumerate(plan.templates):
            request = build_request(prompt=template.format(subject=plan.trigger), model=plan.model,
                                    width=plan.resolution, height=plan.resolution,
                                    seed=plan.seed + index * plan.per_prompt, batch_size=plan.per_prompt,
                                    loras=[{"path": str(lora), "weight": weight}])
            for item in engine.generate(request).images:
                images.append(item.image)
                texts.append(template.format(subject=class_word))
                if weight == 1.0:
                    item.save(cell / f"{index:02d}-{item.seed}.png", overwrite=True)
        metrics["identity" + suffix] = clip_image_similarity(images, references, clip)
        metrics["fidelity" + suffix] = sum(clip_score(images, texts, clip)) / len(images)
    return metrics


def _best(table: list[dict], judged: bool) -> dict:
    """The judge's fidelity already asks for both the subject and the prompt; with CLIP both must be high."""
    def score(row: dict) -> float:
        return row["fidelity"] if judged else row["identity"] * row["fidelity"]

    return max(table, key=lambda r: (score(r), -r["steps"], -r["rank"]))


def _answer(table: list[dict], judged: bool) -> str:
    best = _best(table, judged)
    if judged and best["fidelity"] == 0:
        return (f"No cell draws the subject as asked: identity is at most {max(r['identity'] for r in table):.0%}; "
                "train longer (more --steps) or with a higher --lr.")
    if judged:
        text = (f"Best cell: rank {best['rank']} at {best['steps']} steps, where {best['fidelity']:.0%} of the images "
                f"are the subject in the asked, unseen colour and background (identity {best['identity']:.0%}; "
                f"{best['identity_seen']:.0%} in the trained colours; {best['identity_off']:.0%} with the LoRA off). ")
    else:
        text = (f"Best cell: rank {best['rank']} at {best['steps']} steps: identity (CLIP-I) {best['identity']:.3f}, "
                f"prompt fidelity (CLIP-T) {best['fidelity']:.1f} (LoRA off: {best['identity_off']:.3f} and "
                f"{best['fidelity_off']:.1f}). ")
    for rank in dict.fromkeys(r["rank"] for r in table):
        row = [r for r in table if r["rank"] == rank]
        peak = max(row, key=lambda r: r["fidelity"])
        if row[-1] is not peak and row[-1]["fidelity"] < peak["fidelity"] * 0.9:
            text += (f"Rank {rank} over-fits past {peak['steps']} steps: fidelity falls from "
                     f"{_fmt(peak['fidelity'], judged)} to {_fmt(row[-1]['fidelity'], judged)} at {row[-1]['steps']}. ")
        elif judged and all(r["identity"] == 0 for r in row):
            text += f"Rank {rank} never learns the subject in {row[-1]['steps']} steps. "
        else:
            text += f"Rank {rank} does not over-fit within {row[-1]['steps']} steps. "
    return text.strip()


def _fmt(value: float, judged: bool) -> str:
    return f"{value:.0%}" if judged else f"{value:.1f}"


def _notes(judged: bool) -> str:
    if judged:
        return ("Identity: the judge sees one star. Fidelity: one star of the asked colour on the asked background; "
                "the test prompts ask for colours and backgrounds the training images never showed, so a LoRA that "
                "has memorised its images scores low. identity_seen: the trained colours; identity_off: LoRA weight 0.")
    return ("Identity: CLIP-I, mean cosine of each image's CLIP embedding to the training images' mean (Ruiz et al. 2023). "
            "Fidelity: CLIP-T, the CLIP score (100 x cosine) of each image to its prompt with the class word for the "
            "trigger. _off columns: the same prompts with the LoRA at weight 0. Best: highest CLIP-I x CLIP-T.")
