"""World 2 (sdlab-shapes 2, 128x128, one to three objects in nine positions) as the evaluation layer sees it."""

from __future__ import annotations

import random

from PIL import Image

from sdlab import world2
from sdlab.eval import subject2
from sdlab.eval.worlds import DemoVerdict, ImageCheck, InpaintCase, JudgedWorld
from sdlab.world2 import Caption, Scene, Thing, Wanted, render, write
from sdlab.world2.palette import BASE_SHAPES, HELD_OUT_PAIRS, HELD_OUT_PLACES, IMAGE_SIZE, OBJECT_COLOURS

#: Positions, two and three objects; the last two ask for what training never showed (a held-out
#: colour/shape pair, and a shape named in a held-out position).
DEMO = (
    "a red circle at the top left and a blue square at the bottom right on a white background",
    "a large green triangle in the center on a pink background",
    "a yellow square at the left and a purple circle at the right on a black background",
    "an orange circle at the top and a green square at the bottom on a gray background",
    "a small blue circle at the bottom left on a white background",
    "a red circle, a green square and a blue circle on a black background",
    "a red square on a gray background",
    "a purple triangle at the top left on a pink background",
)


def prompt_check(prompt: str) -> ImageCheck | None:
    """Exactly the caption's objects (sizes and positions where it gives them) on its background."""
    try:
        wanted = world2.parse(prompt or "")
    except ValueError:
        return None
    return lambda image: world2.judge(image).matches(wanted)


def demo_verdict(prompt: str, image: Image.Image) -> DemoVerdict:
    wanted = world2.parse(prompt)
    verdict = world2.judge(image)
    things = [f"{o.colour} {o.shape} {o.position}" for o in verdict.objects] or ["nothing"]
    held_out = any((w.colour, w.shape) in HELD_OUT_PAIRS or (w.shape, w.position) in HELD_OUT_PLACES
                   for w in wanted.objects)
    return DemoVerdict(verdict.matches(wanted), f"{', '.join(things)} on {verdict.background}", held_out)


def inpaint_case(rng: random.Random) -> InpaintCase:
    """Two objects; a box over one, a prompt that asks for another object in its place and keeps the other."""
    background = rng.choice(["white", "black", "gray", "pink"])
    pairs = rng.sample([(c, s) for c in OBJECT_COLOURS for s in BASE_SHAPES if (c, s) not in HELD_OUT_PAIRS], 2)
    cells = rng.choice([(a, b) for a in range(9) for b in range(9)  # not neighbours: the box stays off the other
                        if max(abs(a // 3 - b // 3), abs(a % 3 - b % 3)) >= 2])
    third = IMAGE_SIZE / 3

    def placed(colour: str, shape: str, cell: int) -> Thing:
        row, col = divmod(cell, 3)
        return Thing(shape, colour, (col + 0.5) * third + rng.uniform(-4, 4), (row + 0.5) * third + rng.uniform(-4, 4),
                     rng.uniform(11, 17))

    old, kept = (placed(*pair, cell) for pair, cell in zip(pairs, cells))
    colour = rng.choice([c for c in OBJECT_COLOURS if c not in (old.colour, kept.colour)])
    shape = rng.choice([s for s in BASE_SHAPES if s != old.shape and (colour, s) not in HELD_OUT_PAIRS] or [old.shape])
    box = tuple(int(v) for v in (old.cx - old.half - 6, old.cy - old.half - 6, old.cx + old.half + 6, old.cy + old.half + 6))
    wanted = Caption((Wanted(colour, shape, position=old.position), Wanted(kept.colour, kept.shape, position=kept.position)),
                     background)
    return InpaintCase(render(Scene((old, kept), background)), box, write(wanted),
                       lambda image: world2.judge(image).matches(wanted))


WORLD = JudgedWorld(
    name=world2.WORLD, image_size=IMAGE_SIZE, prompt_check=prompt_check,
    demo_prompts=DEMO, demo_verdict=demo_verdict,
    guidance_prompt="a red circle at the top left and a blue square at the bottom right on a white background",
    guidance_variants=("red circle", "green triangle", "purple square", "yellow square"),
    strength_prompt="a blue square on a pink background",
    strength_input=lambda: render(Scene((Thing("square", "blue", 60, 68, 28),), "pink")),
    inpaint_case=inpaint_case, subjects=subject2,
)
