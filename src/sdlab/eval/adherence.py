"""Prompt adherence of a model of the synthetic world, measured by the judge."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sdlab.engine.engine import Engine
from sdlab.eval.metrics import clipped_fraction
from sdlab.requests import build_request
from sdlab.world.judge import judge
from sdlab.world.palette import BACKGROUND_COLOURS, BASE_SHAPES, HELD_OUT, OBJECT_COLOURS

Combo = tuple[str, str, str]  # colour, shape, background


def combos(held_out: bool) -> list[Combo]:
    """Every (colour, shape, background) of the base world, either the trained or the held-out pairs."""
    return [(c, s, b) for c, s, b in itertools.product(OBJECT_COLOURS, BASE_SHAPES, BACKGROUND_COLOURS)
            if ((c, s) in HELD_OUT) == held_out]


def prompt_for(combo: Combo) -> str:
    colour, shape, background = combo
    return f"a {colour} {shape} on a {background} background"


@dataclass
class AdherenceScore:
    """Counts over the judged images of one setting."""

    images: int = 0
    full: int = 0
    colour: int = 0
    shape: int = 0
    background: int = 0
    single_object: int = 0
    clipped: float = 0.0
    misses: list[tuple[str, int, str]] = field(default_factory=list)  # prompt, seed, what the judge saw

    def rate(self, name: str) -> float:
        return getattr(self, name) / self.images if self.images else 0.0

    def as_dict(self) -> dict:
        return {"images": self.images, "full": self.rate("full"), "colour": self.rate("colour"),
                "shape": self.rate("shape"), "background": self.rate("background"),
                "single_object": self.rate("single_object"), "clipped": self.clipped / max(1, self.images)}


def measure(engine: Engine, held_out: bool, images: int, model: str | None = None, cfg: float | None = None,
            steps: int | None = None, sampler: str | None = None, seed: int = 1000) -> AdherenceScore:
    """Generate at least `images` images spread evenly over the combinations, and judge each."""
    chosen = combos(held_out)
    per_combo = -(-images // len(chosen))
    score = AdherenceScore()
    for index, combo in enumerate(chosen):
        prompt = prompt_for(combo)
        result = engine.generate(build_request(prompt=prompt, model=model, cfg=cfg, steps=steps, sampler=sampler,
                                               seed=seed + index * per_combo, batch_size=per_combo))
        for item in result.images:
            verdict = judge(item.image)
            colour, shape, background = combo
            score.images += 1
            score.full += verdict.matches(colour, shape, background)
            score.colour += verdict.colour == colour
            score.shape += verdict.shape == shape
            score.background += verdict.background == background
            score.single_object += verdict.objects == 1
            score.clipped += clipped_fraction(item.image)
            if not verdict.matches(colour, shape, background):
                seen = f"{verdict.colour} {verdict.shape} {verdict.background} ({verdict.objects} objects)"
                score.misses.append((prompt, item.seed, seen))
    return score
