"""What a running request tells its caller after every denoising step (k-diffusion's callback carries the same)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from PIL import Image

    from sdlab.engine.previews import LatentPreview


@dataclass(frozen=True)
class StepEvent:
    """One denoising step of one batch of a request."""

    batch: int  # which batch of the request (0 .. batch_count - 1)
    images: tuple[int, ...]  # the request's image indices in this batch
    step: int  # 1 .. total
    total: int
    latents: torch.Tensor  # the current latents of the batch (the pipeline's own tensor: copy it to keep it)
    preview_map: "LatentPreview | None" = None  # set when the caller asked the engine for previews

    def previews(self) -> "list[Image.Image]":
        """Cheap previews of the batch's images at this step (no VAE decode); empty without a preview map."""
        return self.preview_map.images(self.latents) if self.preview_map is not None else []

    def kept(self) -> "StepEvent":
        """This event with its own copy of the latents, safe to keep after the step."""
        return dataclasses.replace(self, latents=self.latents.detach().to("cpu", copy=True))


Progress = Callable[[StepEvent], None]
