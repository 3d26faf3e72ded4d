"""Inpainting on the synthetic world: replace one object by another, judge it, check the rest is untouched."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sdlab.engine.engine import Engine
from sdlab.requests import build_request
from sdlab.world.judge import judge
from sdlab.world.palette import BASE_SHAPES, OBJECT_COLOURS
from sdlab.world.render import Scene, render


@dataclass
class InpaintScore:
    cases: int = 0
    success: int = 0
    max_change_outside: int = 0  # largest pixel change (0-255) outside the blurred mask

    def rate(self) -> float:
        return self.success / self.cases if self.cases else 0.0


def measure_inpainting(engine: Engine, cases: int, model: str | None = None, seed: int = 2000, blur: int = 2,
                       only_masked: bool = False, padding: int = 8) -> InpaintScore:
    """Each case: a rendered object, a mask over it, a prompt for another colour and shape on the same background."""
    rng = random.Random(seed)
    score = InpaintScore()
    for index in range(cases):
        background = rng.choice(["white", "black", "gray", "pink"])
        old = Scene(rng.choice(BASE_SHAPES), rng.choice(list(OBJECT_COLOURS)), background,
                    rng.uniform(22, 42), rng.uniform(22, 42), rng.uniform(9, 13))
        colour = rng.choice([c for c in OBJECT_COLOURS if c != old.colour])
        shape = rng.choice([s for s in BASE_SHAPES if s != old.shape])
        source = render(old)
        box = tuple(int(v) for v in (old.cx - old.half - 6, old.cy - old.half - 6, old.cx + old.half + 6, old.cy + old.half + 6))
        mask = Image.new("L", source.size, 0)
        mask.paste(255, box)
        result = engine.generate(build_request(task="inpaint", image=source, mask=mask, model=model, seed=seed + index,
                                               mask_blur=blur, inpaint_only_masked=only_masked, inpaint_padding=padding,
                                               prompt=f"a {colour} {shape} on a {background} background"))
        image = result.images[0].image
        outside = np.ones(source.size[::-1], bool)
        outside[max(0, box[1] - 2 * blur - 1):box[3] + 2 * blur + 1, max(0, box[0] - 2 * blur - 1):box[2] + 2 * blur + 1] = False
        change = np.abs(np.asarray(image, dtype=int) - np.asarray(source, dtype=int))[outside]
        score.cases += 1
        score.success += judge(image).matches(colour, shape, background)
        score.max_change_outside = max(score.max_change_outside, int(change.max()) if change.size else 0)
    return score
