"""The demo: a handful of prompts on an embedded model, judged by its world's judge, in one labelled grid."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from PIL import Image

from sdlab import world as world1
from sdlab import world2
from sdlab.engine.engine import Engine
from sdlab.engine.sources import model_world
from sdlab.world.palette import HELD_OUT
from sdlab.world2.palette import HELD_OUT_PAIRS, HELD_OUT_PLACES

#: World 1 (sdlab-shapes): (prompt, expected colour, shape, background); the last two pairs were never shown to the model.
DEMO_PROMPTS = (
    ("a red circle on a white background", "red", "circle", "white"),
    ("a blue square on a black background", "blue", "square", "black"),
    ("a green triangle on a pink background", "green", "triangle", "pink"),
    ("a yellow square on a gray background", "yellow", "square", "gray"),
    ("a small purple circle at the top left on a white background", "purple", "circle", "white"),
    ("a large orange triangle on a black background", "orange", "triangle", "black"),
    ("a blue triangle on a white background", "blue", "triangle", "white"),
    ("a red square on a gray background", "red", "square", "gray"),
)
#: World 2 (sdlab-shapes 2): positions, two and three objects; the last two ask for what training never showed
#: (a held-out colour/shape pair, and a shape named in a held-out position).
DEMO_PROMPTS2 = (
    "a red circle at the top left and a blue square at the bottom right on a white background",
    "a large green triangle in the center on a pink background",
    "a yellow square at the left and a purple circle at the right on a black background",
    "an orange circle at the top and a green square at the bottom on a gray background",
    "a small blue circle at the bottom left on a white background",
    "a red circle, a green square and a blue circle on a black background",
    "a red square on a gray background",
    "a purple triangle at the top left on a pink background",
)


@dataclass(frozen=True)
class DemoRow:
    prompt: str
    correct: bool
    seen: str  # what the judge saw, in words
    held_out: bool  # the prompt asks for something training never showed
    image: Image.Image


def _row1(prompt: str, image: Image.Image) -> DemoRow:
    colour, shape, background = next(expected for p, *expected in DEMO_PROMPTS if p == prompt)
    verdict = world1.judge(image)
    seen = " ".join(str(p) for p in (verdict.colour, verdict.shape, verdict.background))
    seen += f", {verdict.objects} objects" if verdict.objects != 1 else ""
    return DemoRow(prompt, verdict.matches(colour, shape, background), seen, (colour, shape) in HELD_OUT, image)


def _row2(prompt: str, image: Image.Image) -> DemoRow:
    wanted = world2.parse(prompt)
    verdict = world2.judge(image)
    things = [f"{o.colour} {o.shape} {o.position}" for o in verdict.objects] or ["nothing"]
    held_out = any((w.colour, w.shape) in HELD_OUT_PAIRS or (w.shape, w.position) in HELD_OUT_PLACES
                   for w in wanted.objects)
    return DemoRow(prompt, verdict.matches(wanted), f"{', '.join(things)} on {verdict.background}", held_out, image)


def demo_prompts(model: str | None) -> tuple[tuple[str, ...], object]:
    """The demo prompts for the model's world and the function that judges one image of a prompt."""
    if model_world(model) == world2.WORLD:
        return DEMO_PROMPTS2, _row2
    return tuple(p for p, *_ in DEMO_PROMPTS), _row1


def run_demo(engine: Engine, model: str | None = None, seed: int = 1, steps: int | None = None,
             cfg: float | None = None) -> list[DemoRow]:
    """Generate every demo prompt (one image per prompt, seed fixed) and judge each image."""
    from sdlab.requests import build_request

    prompts, judged = demo_prompts(model)
    return [judged(p, engine.generate(build_request(prompt=p, model=model, seed=seed, steps=steps, cfg=cfg)).images[0].image)
            for p in prompts]


def label(row: DemoRow) -> str:
    """Prompt (wrapped), then the judge's verdict: OK, or MISS with what it saw."""
    lines = textwrap.wrap(row.prompt, 34)[:3]
    verdict = "judge: OK" if row.correct else f"judge: MISS ({row.seen})"
    return "\n".join(lines + [verdict + (" *held out" if row.held_out else "")])
