"""The demo: a handful of prompts on the embedded model, judged, in one labelled grid."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from PIL import Image

from sdlab.engine.engine import Engine
from sdlab.requests import build_request
from sdlab.world.judge import Verdict, judge
from sdlab.world.palette import HELD_OUT

#: (prompt, expected colour, shape, background); the last two pairs were never shown to the model.
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


@dataclass(frozen=True)
class DemoRow:
    prompt: str
    expected: tuple[str, str, str]
    verdict: Verdict
    held_out: bool
    image: Image.Image

    @property
    def seen(self) -> tuple[str | None, str | None, str]:
        return self.verdict.colour, self.verdict.shape, self.verdict.background

    @property
    def correct(self) -> bool:
        return self.verdict.matches(*self.expected)


def run_demo(engine: Engine, model: str | None = None, seed: int = 1, steps: int | None = None,
             cfg: float | None = None) -> list[DemoRow]:
    """Generate every demo prompt (one batch per prompt, seed fixed) and judge each image."""
    rows = []
    for prompt, colour, shape, background in DEMO_PROMPTS:
        result = engine.generate(build_request(prompt=prompt, model=model, seed=seed, steps=steps, cfg=cfg))
        image = result.images[0].image
        verdict = judge(image)
        rows.append(DemoRow(prompt, (colour, shape, background), verdict, (colour, shape) in HELD_OUT, image))
    return rows


def label(row: DemoRow) -> str:
    """Prompt (wrapped), then the judge's verdict: OK, or MISS with what it saw."""
    lines = textwrap.wrap(row.prompt, 34)[:2]
    seen = " ".join(str(p) for p in row.seen) + (f", {row.verdict.objects} objects" if row.verdict.objects != 1 else "")
    verdict = "judge: OK" if row.correct else f"judge: MISS ({seen})"
    return "\n".join(lines + [verdict + (" *held out" if row.held_out else "")])
