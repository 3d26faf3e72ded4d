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


def generated(engine: Engine, prompts: list[str], images: int, model: str | None, cfg: float | None,
              steps: int | None, sampler: str | None, seed: int):
    """At least `images` images spread evenly over `prompts`, consecutive seeds from `seed`: (index, prompt, item)."""
    per_prompt = -(-images // len(prompts))
    for index, prompt in enumerate(prompts):
        result = engine.generate(build_request(prompt=prompt, model=model, cfg=cfg, steps=steps, sampler=sampler,
                                               seed=seed + index * per_prompt, batch_size=per_prompt))
        for item in result.images:
            yield index, prompt, item


def measure(engine: Engine, held_out: bool, images: int, model: str | None = None, cfg: float | None = None,
            steps: int | None = None, sampler: str | None = None, seed: int = 1000) -> AdherenceScore:
    """Generate at least `images` images spread evenly over the combinations, and judge each."""
    chosen = combos(held_out)
    score = AdherenceScore()
    for index, prompt, item in generated(engine, [prompt_for(c) for c in chosen], images, model, cfg, steps, sampler,
                                         seed):
        verdict = judge(item.image)
        colour, shape, background = chosen[index]
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
