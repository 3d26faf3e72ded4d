"""Learning-rate schedules and loss weightings as small pure functions."""

from __future__ import annotations

import math

import torch


def one_cycle_lr(step: int, total: int, peak: float, warmup: float = 0.1, floor: float = 0.01) -> float:
    """Linear warm-up to `peak` over `warmup` of the run, then cosine decay to `floor` * peak (Smith 2018, one-cycle)."""
    warm = max(1, int(total * warmup))
    if step < warm:
        return peak * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample loss weights min(SNR, gamma) / SNR for epsilon prediction (Hang et al. 2023, Min-SNR)."""
    alpha_bar = alphas_cumprod.to(timesteps.device)[timesteps]
    snr = alpha_bar / (1 - alpha_bar)
    return torch.clamp(snr, max=gamma) / snr
