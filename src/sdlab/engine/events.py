"""What a running request tells its caller after every denoising step (k-diffusion's callback carries the same)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class StepEvent:
    """One denoising step of one batch of a request."""

    batch: int  # which batch of the request (0 .. batch_count - 1)
    images: tuple[int, ...]  # the request's image indices in this batch
    step: int  # 1 .. total
    total: int
    latents: torch.Tensor  # the current latents of the batch (the pipeline's own tensor: copy it to keep it)


Progress = Callable[[StepEvent], None]
