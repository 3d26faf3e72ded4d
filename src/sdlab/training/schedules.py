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


def constant_lr(step: int, peak: float, warmup: int = 0) -> float:
    """Linear warm-up over `warmup` steps, then constant (the schedule kohya and diffusers use by default)."""
    return peak * min(1.0, (step + 1) / warmup) if warmup else peak


def cosine_lr(step: int, total: int, peak: float, warmup: int = 0) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `total` (Loshchilov & Hutter 2017, SGDR)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float,
                    v_prediction: bool = False) -> torch.Tensor:
    """Per-sample loss weights min(SNR, gamma) / SNR, or / (SNR + 1) for v-prediction (Hang et al. 2023, Min-SNR)."""
    alpha_bar = alphas_cumprod.to(timesteps.device)[timesteps]
    snr = alpha_bar / (1 - alpha_bar)
    return torch.clamp(snr, max=gamma) / (snr + 1 if v_prediction else snr)
