"""World 2's LoRA subject exercise: teach sdlab-shapes 2 a shape it never saw, then put it in novel scenes.

The training images are 15 of one unseen shape (a star by default) in one colour on one background, at
any size and position, captioned in world 2's grammar with the trigger for the shape ("a small red sks star
at the top left on a white background"). The test prompts ask for it:
- in the trained context (its colour and background): does the LoRA draw the shape at all?
- in colours and on backgrounds the training images never showed, alone and beside an object the base
  model knows ("a blue sks star at the left and a green circle at the right on a gray background").

Scores, from the world's judge: identity = an object of the subject's shape is drawn; subject = the
subject in the asked colour on the asked background; full = everything as asked (the other object
and any positions too).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from sdlab.engine.engine import Engine
from sdlab.outputs import save_png
from sdlab.requests import build_request
from sdlab.world2 import Caption, Wanted, caption, judge, render, sample_scene, write
from sdlab.world2.palette import BASE_SHAPES, EXTRA_SHAPES, HELD_OUT_PAIRS, HELD_OUT_PLACES, POSITIONS

SUBJECT = "star"
TRIGGER_WORD = "sks"  # the rare token before the class word, as DreamBooth and kohya users write it
TRAIN_COLOUR, TRAIN_BACKGROUND = "red", "white"
#: Colours and backgrounds no training image shows.
TEST_COLOURS, TEST_BACKGROUNDS = ("blue", "yellow", "green"), ("black", "gray", "pink")
#: Objects the base model knows, to stand beside the subject in two-object test scenes.
COMPANIONS = (("green", "circle"), ("yellow", "square"), ("purple", "triangle"), ("orange", "circle"),
              ("blue", "square"), ("red", "triangle"))


#: The LoRA exercise trains with the model card's LoRA defaults, as `sdlab train-lora` does.
EXERCISE_LR = EXERCISE_BATCH = None


def trigger(subject: str = SUBJECT) -> str:
    return f"{TRIGGER_WORD} {subject}"


TRIGGER = trigger()


def _with_trigger(text: str, subject: str) -> str:
    return text.replace(f" {subject}", f" {trigger(subject)}")


def write_subject_data(folder: Path, count: int = 15, seed: int = 0, subject: str = SUBJECT) -> Path:
    """`count` images of the subject in the trained colour on the trained background, captions naming the trigger."""
    if subject not in EXTRA_SHAPES:
        raise ValueError(f"the subject must be a shape the base never saw: one of {', '.join(EXTRA_SHAPES)}")
    rng = random.Random(f"subject2/{seed}")
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        scene = sample_scene(rng, count=1, shapes=(subject,), colours=(TRAIN_COLOUR,), backgrounds=(TRAIN_BACKGROUND,),
                             held_out_pairs=frozenset(), held_out_places=frozenset())
        save_png(render(scene), folder / f"{index:03d}.png", overwrite=True)
        (folder / f"{index:03d}.txt").write_text(_with_trigger(caption(scene, rng, 0.5), subject) + "\n")
    return folder


def subject_captions(seen: bool = False, subject: str = SUBJECT, seed: int = 0) -> list[Caption]:
    """The test scenes: the trained context (`seen`), else unseen colours x backgrounds alone and in two-object scenes."""
    if seen:
        return [Caption((Wanted(TRAIN_COLOUR, subject, position=p),), TRAIN_BACKGROUND) for p in (None, "left", "top right")]
    rng = random.Random(f"subject2-prompts/{seed}")
    alone = [Caption((Wanted(c, subject),), b) for c in TEST_COLOURS for b in TEST_BACKGROUNDS]
    pairs = []
    for index, (colour, background) in enumerate(zip(TEST_COLOURS * 2, TEST_BACKGROUNDS + TEST_BACKGROUNDS[::-1])):
        companion = next((c, s) for c, s in COMPANIONS[index:] + COMPANIONS[:index] if c != colour
                         and (c, s) not in HELD_OUT_PAIRS and s in BASE_SHAPES)
        here, there = rng.sample([p for p in POSITIONS if (companion[1], p) not in HELD_OUT_PLACES], 2)
        pairs.append(Caption((Wanted(colour, subject, position=here), Wanted(*companion, position=there)), background))
    return alone + pairs


def subject_prompts(seen: bool = False, subject: str = SUBJECT) -> list[tuple[str, Caption]]:
    """(prompt with the trigger, what it asks for) for every test scene."""
    return [(_with_trigger(write(c), subject), c) for c in subject_captions(seen, subject)]


@dataclass(frozen=True)
class SubjectScore:
    weight: float
    images: int
    identity: float  # share with an object of the subject's shape
    fidelity: float  # share with the subject in the asked colour, on the asked background
    full: float  # share with everything as asked (other objects and positions too)
    two_objects: float  # fidelity on the two-object scenes alone (0 when there are none)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def score_subject(engine: Engine, lora: Path | None, weight: float = 1.0, per_prompt: int = 4, model: str | None = None,
                  seed: int = 5000, samples: Path | None = None, seen: bool = False,
                  subject: str = SUBJECT) -> SubjectScore:
    """Generate `per_prompt` images of each test prompt and judge them."""
    loras = [{"path": str(lora), "weight": weight}] if lora is not None else []
    images = identity = fidelity = full = pair_images = pair_fidelity = 0
    for index, (prompt, wanted) in enumerate(subject_prompts(seen, subject)):
        result = engine.generate(build_request(prompt=prompt, model=model, seed=seed + index * per_prompt,
                                               batch_size=per_prompt, loras=loras))
        asked = wanted.objects[0]
        for item in result.images:
            verdict = judge(item.image)
            drawn = [o for o in verdict.objects if o.shape == subject]
            right = verdict.background == wanted.background and any(o.colour == asked.colour for o in drawn)
            images += 1
            identity += bool(drawn)
            fidelity += right
            full += verdict.matches(wanted)
            if len(wanted.objects) > 1:
                pair_images += 1
                pair_fidelity += right
            if samples is not None:
                item.save(samples / f"w{weight:g}-{index:02d}-{item.seed}.png", overwrite=True)
    n = max(1, images)
    return SubjectScore(weight, images, identity / n, fidelity / n, full / n, pair_fidelity / max(1, pair_images))
