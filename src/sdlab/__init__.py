"""sdlab: the Stable Diffusion workflow, reproducible and measurable.

    import sdlab
    result = sdlab.generate(prompt="a red circle on a white background", seed=1)
    result.images[0].save("circle.png")
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Engine", "GenerationRequest", "generate", "img2img", "inpaint"]


def __getattr__(name: str):
    # Heavy modules (torch, diffusers) load on first use, so `import sdlab` and `sdlab --help` stay fast.
    if name in ("generate", "img2img", "inpaint", "default_engine"):
        from sdlab import api

        return getattr(api, name)
    if name == "Engine":
        from sdlab.engine.engine import Engine

        return Engine
    if name == "GenerationRequest":
        from sdlab.requests import GenerationRequest

        return GenerationRequest
    raise AttributeError(f"module 'sdlab' has no attribute {name!r}")
