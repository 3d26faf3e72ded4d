"""Initial noise for latent-space walks: a seed's noise moved towards a variation seed's along the sphere."""

from __future__ import annotations

import torch


def slerp(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spherical linear interpolation from `a` (t=0) to `b` (t=1) over all elements (Shoemake 1985)."""
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    a64, b64 = a.double().flatten(), b.double().flatten()
    cos = torch.dot(a64, b64) / (a64.norm() * b64.norm())
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:  # nearly parallel: the sphere is flat here
        mixed = (1 - t) * a64 + t * b64
    else:
        mixed = (torch.sin((1 - t) * omega) * a64 + torch.sin(t * omega) * b64) / torch.sin(omega)
    return mixed.reshape(a.shape).to(a.dtype)


def variation_latents(generators: list[torch.Generator], variation_seeds: list[int], strength: float,
                      shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Initial latents of a batch: each image's seed noise slerped towards its variation seed's noise.

    The seed noise is drawn from the pipeline's own generators, as diffusers would draw it, so the
    generators are left where they would be and ancestral samplers' step noise is unchanged.
    """
    rows = []
    for generator, variation_seed in zip(generators, variation_seeds):
        own = torch.randn((1, *shape), generator=generator, dtype=dtype)
        other = torch.randn((1, *shape), generator=torch.Generator("cpu").manual_seed(variation_seed), dtype=dtype)
        rows.append(slerp(strength, own, other))  # computed in float64, returned in `dtype`
    return torch.cat(rows)
