"""The demo: a handful of prompts on an embedded model, judged by its world's judge, in one labelled grid."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from PIL import Image

from sdlab.engine.engine import Engine
from sdlab.errors import UsageError
from sdlab.eval.worlds import judged_world


@dataclass(frozen=True)
class DemoRow:
    prompt: str
    correct: bool
    seen: str  # what the judge saw, in words
    held_out: bool  # the prompt asks for something training never showed
    image: Image.Image


def run_demo(engine: Engine, model: str | None = None, seed: int = 1, steps: int | None = None,
             cfg: float | None = None) -> list[DemoRow]:
    """Generate every demo prompt of the model's world (one image per prompt, seed fixed) and judge each image."""
    from sdlab.requests import build_request

    world = judged_world(model)
    if world is None:
        raise UsageError("model", "the demo is judged, so it runs on a model of sdlab's synthetic worlds (its "
                         "sdlab.json names the world); this model names none")
    rows = []
    for prompt in world.demo_prompts:
        image = engine.generate(build_request(prompt=prompt, model=model, seed=seed, steps=steps, cfg=cfg)).images[0].image
        verdict = world.demo_verdict(prompt, image)
        rows.append(DemoRow(prompt, verdict.correct, verdict.seen, verdict.held_out, image))
    return rows


def label(row: DemoRow) -> str:
    """Prompt (wrapped), then the judge's verdict: OK, or MISS with what it saw."""
    lines = textwrap.wrap(row.prompt, 34)[:3]
    verdict = "judge: OK" if row.correct else f"judge: MISS ({row.seen})"
    return "\n".join(lines + [verdict + (" *held out" if row.held_out else "")])
