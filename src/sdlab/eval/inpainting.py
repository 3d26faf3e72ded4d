"""Inpainting on the synthetic world: replace one object by another, judge it, check the rest is untouched."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sdlab.engine.engine import Engine
from sdlab.requests import build_request
from sdlab.errors import UsageError
from sdlab.eval.worlds import judged_world


@dataclass
class InpaintScore:
    cases: int = 0
    success: int = 0
    max_change_outside: int = 0  # largest pixel change (0-255) outside the blurred mask

    def rate(self) -> float:
        return self.success / self.cases if self.cases else 0.0


def measure_inpainting(engine: Engine, cases: int, model: str | None = None, seed: int = 2000, blur: int = 2,
                       only_masked: bool = False, padding: int = 8) -> InpaintScore:
    """Each case (the model's world draws it): a rendered scene, a box over one object, a prompt for another object there."""
    world = judged_world(model)
    if world is None:
        raise UsageError("model", "inpainting is judged on a model of sdlab's synthetic worlds (its sdlab.json names "
                         "the world); this model names none")
    rng = random.Random(seed)
    score = InpaintScore()
    for index in range(cases):
        case = world.inpaint_case(rng)
        source, box = case.source, case.box
        mask = Image.new("L", source.size, 0)
        mask.paste(255, box)
        result = engine.generate(build_request(task="inpaint", image=source, mask=mask, model=model, seed=seed + index,
                                               mask_blur=blur, inpaint_only_masked=only_masked, inpaint_padding=padding,
                                               prompt=case.prompt))
        image = result.images[0].image
        outside = np.ones(source.size[::-1], bool)
        outside[max(0, box[1] - 2 * blur - 1):box[3] + 2 * blur + 1, max(0, box[0] - 2 * blur - 1):box[2] + 2 * blur + 1] = False
        change = np.abs(np.asarray(image, dtype=int) - np.asarray(source, dtype=int))[outside]
        score.cases += 1
        score.success += case.check(image)
        score.max_change_outside = max(score.max_change_outside, int(change.max()) if change.size else 0)
    return score
