"""The Python API: one call per task, each building a validated request for the engine."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sdlab.engine.engine import Engine
from sdlab.requests import GenerationResult, Task, build_request


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    """The process's engine: keeps the last model loaded between calls."""
    return Engine()


def generate(prompt: str = "", **options: Any) -> GenerationResult:
    """Text-to-image. Options are GenerationRequest fields: negative_prompt, model, sampler, steps, cfg, seed, ..."""
    return default_engine().generate(build_request(task=Task.txt2img, prompt=prompt, **options))


def img2img(image: Any, prompt: str = "", strength: float | None = None, **options: Any) -> GenerationResult:
    """Image-to-image from a path or PIL image; strength 0 keeps the input, 1 ignores it."""
    return default_engine().generate(build_request(task=Task.img2img, image=image, prompt=prompt, strength=strength, **options))


def inpaint(image: Any, mask: Any, prompt: str = "", **options: Any) -> GenerationResult:
    """Regenerate the white part of `mask` (alpha for RGBA masks) and keep the rest of `image`."""
    return default_engine().generate(build_request(task=Task.inpaint, image=image, mask=mask, prompt=prompt, **options))
