"""Prompt adherence of a world-2 model (sdlab-shapes 2), judged per kind of prompt.

Four kinds, each on trained and held-out combinations:
- single: one object, no size or position ("a red circle on a white background"); held out: the colour/shape
  pairs the base never saw;
- position: one object in a named ninth; held out: the shape/position combinations the base never saw;
- two, three: two or three objects, each named with its position half the time; held out: scenes with a
  held-out colour/shape pair among them.
An image counts when the judge finds exactly the asked objects (with their positions and sizes where the
prompt gives them) on the asked background.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sdlab.engine.engine import Engine
from sdlab.eval.adherence import generated
from sdlab.world2 import Caption, Wanted, judge, parse, write
from sdlab.world2.palette import (
    BACKGROUND_COLOURS, BASE_SHAPES, HELD_OUT_PAIRS, HELD_OUT_PLACES, OBJECT_COLOURS, POSITIONS,
)

KINDS = ("single", "position", "two", "three")
PROMPTS_PER_SET = 24  # distinct prompts per kind and set; images are spread over them


def prompts(kind: str, held_out: bool, count: int = PROMPTS_PER_SET, seed: int = 0) -> list[str]:
    """`count` distinct prompts of a kind, trained or held-out, drawn deterministically from `seed`."""
    rng = random.Random(f"{seed}/{kind}/{held_out}")
    pairs = [(c, s) for c in OBJECT_COLOURS for s in BASE_SHAPES]
    trained_pairs = [p for p in pairs if p not in HELD_OUT_PAIRS]
    out: list[str] = []
    attempts = 0
    while len(out) < count and attempts < 100 * count:
        attempts += 1
        background = rng.choice(tuple(BACKGROUND_COLOURS))
        if kind == "single":
            colour, shape = rng.choice(sorted(HELD_OUT_PAIRS) if held_out else trained_pairs)
            caption = Caption((Wanted(colour, shape),), background)
        elif kind == "position":
            colour, shape = rng.choice(trained_pairs)
            places = [p for p in POSITIONS if ((shape, p) in HELD_OUT_PLACES) == held_out]
            if not places:
                continue
            caption = Caption((Wanted(colour, shape, position=rng.choice(places)),), background)
        else:
            n = 2 if kind == "two" else 3
            cells = rng.sample(POSITIONS, n)
            chosen: list[Wanted] = []
            for index, cell in enumerate(cells):
                pool = sorted(HELD_OUT_PAIRS) if held_out and index == 0 else trained_pairs
                pool = [p for p in pool if all(p != (w.colour, w.shape) for w in chosen) and (p[1], cell) not in HELD_OUT_PLACES]
                colour, shape = rng.choice(pool)
                chosen.append(Wanted(colour, shape, position=cell if rng.random() < 0.5 else None))
            rng.shuffle(chosen)
            caption = Caption(tuple(chosen), background)
        text = write(caption)
        if text not in out:
            out.append(text)
    return out


@dataclass
class KindScore:
    images: int = 0
    full: int = 0
    count_right: int = 0  # as many objects as asked
    background: int = 0
    misses: list[tuple[str, int, str]] = field(default_factory=list)  # prompt, seed, what the judge saw

    def as_dict(self) -> dict:
        rate = (lambda n: n / self.images) if self.images else (lambda n: 0.0)
        return {"images": self.images, "full": rate(self.full), "count": rate(self.count_right),
                "background": rate(self.background)}


def measure2(engine: Engine, kind: str, held_out: bool, images: int, model: str | None = None,
             cfg: float | None = None, steps: int | None = None, sampler: str | None = None,
             seed: int = 1000) -> KindScore:
    """Generate at least `images` images of one kind and set, spread over its prompts, and judge each."""
    score = KindScore()
    for _, prompt, item in generated(engine, prompts(kind, held_out), images, model, cfg, steps, sampler, seed):
        wanted, verdict = parse(prompt), judge(item.image)
        score.images += 1
        score.full += verdict.matches(wanted)
        score.count_right += len(verdict.objects) == len(wanted.objects)
        score.background += verdict.background == wanted.background
        if not verdict.matches(wanted):
            seen = ", ".join(f"{o.colour} {o.shape} {o.position}" for o in verdict.objects) or "nothing"
            score.misses.append((prompt, item.seed, f"{seen} on {verdict.background}"))
    return score
