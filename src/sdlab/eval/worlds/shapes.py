"""World 1 (sdlab-shapes, 64x64, one object) as the evaluation layer sees it."""

from __future__ import annotations

import random
import re

from PIL import Image

from sdlab import world
from sdlab.eval import subject
from sdlab.eval.worlds import DemoVerdict, ImageCheck, InpaintCase, JudgedWorld
from sdlab.world.palette import ALL_SHAPES, BACKGROUND_COLOURS, BASE_SHAPES, HELD_OUT, IMAGE_SIZE, OBJECT_COLOURS
from sdlab.world.render import Scene, render

_PROMPT = re.compile(rf"\b({'|'.join(OBJECT_COLOURS)})\b.*\b({'|'.join(ALL_SHAPES)})\b.*"
                     rf"\bon an? ({'|'.join(BACKGROUND_COLOURS)}) background\b")

#: (prompt, expected colour, shape, background); the last two pairs were never shown to the model.
DEMO = (
    ("a red circle on a white background", "red", "circle", "white"),
    ("a blue square on a black background", "blue", "square", "black"),
    ("a green triangle on a pink background", "green", "triangle", "pink"),
    ("a yellow square on a gray background", "yellow", "square", "gray"),
    ("a small purple circle at the top left on a white background", "purple", "circle", "white"),
    ("a large orange triangle on a black background", "orange", "triangle", "black"),
    ("a blue triangle on a white background", "blue", "triangle", "white"),
    ("a red square on a gray background", "red", "square", "gray"),
)


def prompt_check(prompt: str) -> ImageCheck | None:
    """One object of the prompt's colour and shape on its background (sizes and positions are not judged)."""
    wanted = _PROMPT.search(prompt or "")
    return None if wanted is None else (lambda image: world.judge(image).matches(*wanted.groups()))


def demo_verdict(prompt: str, image: Image.Image) -> DemoVerdict:
    colour, shape, background = next(expected for p, *expected in DEMO if p == prompt)
    verdict = world.judge(image)
    seen = " ".join(str(p) for p in (verdict.colour, verdict.shape, verdict.background))
    seen += f", {verdict.objects} objects" if verdict.objects != 1 else ""
    return DemoVerdict(verdict.matches(colour, shape, background), seen, (colour, shape) in HELD_OUT)


def inpaint_case(rng: random.Random) -> InpaintCase:
    """A rendered object, a box over it, a prompt for another colour and shape on the same background."""
    background = rng.choice(["white", "black", "gray", "pink"])
    old = Scene(rng.choice(BASE_SHAPES), rng.choice(list(OBJECT_COLOURS)), background,
                rng.uniform(22, 42), rng.uniform(22, 42), rng.uniform(9, 13))
    colour = rng.choice([c for c in OBJECT_COLOURS if c != old.colour])
    shape = rng.choice([s for s in BASE_SHAPES if s != old.shape])
    box = tuple(int(v) for v in (old.cx - old.half - 6, old.cy - old.half - 6, old.cx + old.half + 6, old.cy + old.half + 6))
    return InpaintCase(render(old), box, f"a {colour} {shape} on a {background} background",
                       lambda image: world.judge(image).matches(colour, shape, background))


WORLD = JudgedWorld(
    name=world.WORLD, image_size=IMAGE_SIZE, prompt_check=prompt_check,
    demo_prompts=tuple(p for p, *_ in DEMO), demo_verdict=demo_verdict,
    guidance_prompt="a red circle on a white background",
    guidance_variants=("red circle", "blue square", "green triangle", "purple square"),
    strength_prompt="a blue square on a pink background",
    strength_input=lambda: render(Scene("square", "blue", "pink", 30, 34, 14)),
    inpaint_case=inpaint_case, subjects=subject,
)
