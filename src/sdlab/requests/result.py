"""What a generation returns: images with the parameters that made them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

SEED_RANGE = 2**32  # seeds are 32-bit, as in A1111


@dataclass(frozen=True)
class Resolved:
    """A request with every model default filled in: exactly what ran."""

    task: str
    prompt: str
    negative_prompt: str
    model_name: str
    model_hash: str
    sampler: str
    schedule: str | None
    steps: int
    cfg: float
    seed: int
    width: int
    height: int
    batch_size: int
    batch_count: int
    strength: float | None
    mask_blur: int | None
    inpaint_only_masked: bool
    inpaint_padding: int | None
    loras: tuple[tuple[str, str, float], ...] = ()  # (name, short hash, weight)
    variation_seed: int | None = None  # of the first image; image i uses variation_seed + i (as A1111)
    variation_strength: float | None = None
    blend_prompt: str | None = None
    blend: float | None = None

    @property
    def images(self) -> int:
        return self.batch_size * self.batch_count

    def seed_for(self, index: int) -> int:
        """The seed of image `index` of the request: seed + index, as in A1111, wrapping around at 2**32."""
        return (self.seed + index) % SEED_RANGE

    def variation_seed_for(self, index: int) -> int | None:
        """The variation seed of image `index`: it counts up through a batch like the seed."""
        return None if self.variation_seed is None else (self.variation_seed + index) % SEED_RANGE


@dataclass
class GeneratedImage:
    """One image, its seed, its A1111 infotext and (if asked) the safety checker's verdict."""

    image: Image.Image
    seed: int
    infotext: str
    parameters: dict[str, Any]
    nsfw: bool | None = None

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write a PNG with the infotext in its `parameters` chunk (atomic; no overwrite unless asked)."""
        from sdlab.outputs import save_png

        return save_png(self.image, Path(path), self.infotext, overwrite=overwrite)


@dataclass
class GenerationResult:
    """All images of a request, the resolved parameters, warnings and timings."""

    images: list[GeneratedImage]
    resolved: Resolved
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False  # stopped by its caller: `images` are those finished before
    skipped: int = 0  # batches the caller skipped (their images are not in `images`)
