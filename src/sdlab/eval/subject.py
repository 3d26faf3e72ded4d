"""The LoRA subject exercise: teach sdlab-shapes a shape it has never seen and measure it with the judge.

The training images show a star in a few colours on a few backgrounds; the test prompts ask for
the star in *other* colours on *other* backgrounds. Identity: the judge sees a star. Fidelity: it
also sees the asked colour and background. Off: at LoRA weight 0 no stars appear.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

from sdlab.engine.engine import Engine
from sdlab.outputs import save_png
from sdlab.requests import build_request
from sdlab.world.judge import judge
from sdlab.world.render import caption, render, sample_scene

SUBJECT = "star"
TRIGGER = "sks star"
#: What the training images show, and the disjoint colours and backgrounds the test prompts ask for.
TRAIN_COLOURS, TRAIN_BACKGROUNDS = ("red", "green", "purple"), ("white", "black")
TEST_COLOURS, TEST_BACKGROUNDS = ("blue", "yellow", "orange"), ("gray", "pink")

#: What the LoRA exercise trains world 1's subject with (its model card has no LoRA defaults).
EXERCISE_LR, EXERCISE_BATCH = 3e-3, 8


def write_subject_data(folder: Path, count: int = 15, seed: int = 0) -> Path:
    """`count` rendered stars with captions naming the trigger, colour and background (kohya layout: one folder)."""
    rng = random.Random(f"subject/{seed}")
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        scene = sample_scene(rng, shapes=(SUBJECT,), colours=TRAIN_COLOURS, backgrounds=TRAIN_BACKGROUNDS)
        save_png(render(scene), folder / f"{index:03d}.png", overwrite=True)
        text = caption(scene).replace(f" {SUBJECT} ", f" {TRIGGER} ")
        (folder / f"{index:03d}.txt").write_text(text + "\n")
    return folder


def subject_prompts(seen: bool = False) -> list[tuple[str, str, str]]:
    """(prompt, colour, background) for every unseen (or, with `seen`, every trained) colour x background."""
    colours, backgrounds = (TRAIN_COLOURS, TRAIN_BACKGROUNDS) if seen else (TEST_COLOURS, TEST_BACKGROUNDS)
    return [(f"a {c} {TRIGGER} on a {b} background", c, b) for c, b in itertools.product(colours, backgrounds)]


@dataclass(frozen=True)
class SubjectScore:
    weight: float
    images: int
    identity: float  # share judged a star
    fidelity: float  # share judged a star of the asked colour on the asked background
    colour: float
    background: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def score_subject(engine: Engine, lora: Path | None, weight: float = 1.0, per_prompt: int = 4, model: str | None = None,
                  seed: int = 5000, samples: Path | None = None, seen: bool = False) -> SubjectScore:
    """Generate `per_prompt` images of each test prompt (unseen colours and backgrounds unless `seen`) and judge them."""
    counts = dict(images=0, identity=0, fidelity=0, colour=0, background=0)
    loras = [{"path": str(lora), "weight": weight}] if lora is not None else []
    for index, (prompt, colour, background) in enumerate(subject_prompts(seen)):
        result = engine.generate(build_request(prompt=prompt, model=model, seed=seed + index * per_prompt,
                                               batch_size=per_prompt, loras=loras))
        for item in result.images:
            verdict = judge(item.image)
            counts["images"] += 1
            counts["identity"] += verdict.shape == SUBJECT and verdict.objects == 1
            counts["fidelity"] += verdict.matches(colour, SUBJECT, background)
            counts["colour"] += verdict.colour == colour
            counts["background"] += verdict.background == background
            if samples is not None:
                item.save(samples / f"w{weight:g}-{index:02d}-{item.seed}.png", overwrite=True)
    n = max(1, counts["images"])
    return SubjectScore(weight, counts["images"], counts["identity"] / n, counts["fidelity"] / n,
                        counts["colour"] / n, counts["background"] / n)
