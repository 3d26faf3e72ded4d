"""What the evaluation layer knows of each synthetic world, so every judged measure asks one place.

A model's sdlab.json names its world; `judged_world(model)` gives that world's judge of prompts, the
demo's prompts, the exercises' prompts and inputs, its inpainting cases and its LoRA subject exercise.
Models of no synthetic world get None, and measures fall back to what needs no judge (CLIP, SSIM).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from PIL import Image

ImageCheck = Callable[[Image.Image], bool]


@dataclass(frozen=True)
class DemoVerdict:
    correct: bool
    seen: str  # what the judge saw, in words
    held_out: bool  # the prompt asks for something training never showed


@dataclass(frozen=True)
class InpaintCase:
    source: Image.Image
    box: tuple[int, int, int, int]  # the masked rectangle
    prompt: str
    check: ImageCheck  # the prompt's new object drawn on the same background


@dataclass(frozen=True)
class JudgedWorld:
    name: str
    image_size: int
    prompt_check: Callable[[str], ImageCheck | None]  # judges an image against a prompt, None if it cannot read it
    demo_prompts: tuple[str, ...]
    demo_verdict: Callable[[str, Image.Image], DemoVerdict]
    guidance_prompt: str
    guidance_variants: tuple[str, ...]  # prompt S/R values: the first appears in guidance_prompt
    strength_prompt: str
    strength_input: Callable[[], Image.Image]  # what strength_prompt describes
    inpaint_case: Callable[[random.Random], InpaintCase]
    subjects: ModuleType  # the LoRA subject exercise: TRIGGER, write_subject_data, score_subject, EXERCISE_LR/BATCH


def judged_worlds() -> dict[str, JudgedWorld]:
    from sdlab.eval.worlds import shapes, shapes2

    return {w.name: w for w in (shapes.WORLD, shapes2.WORLD)}


def judged_world(model: str | None) -> JudgedWorld | None:
    """The synthetic world `model` draws (from its sdlab.json), or None."""
    from sdlab.engine.sources import model_world

    return judged_worlds().get(model_world(model))
