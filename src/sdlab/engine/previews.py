"""Cheap step previews: a linear map from latents to RGB, fitted once per model to the model's own VAE.

A VAE decode costs a good part of a denoising step; a preview on every step should not pay that. For
SD's VAEs each latent pixel is, to a good approximation, an affine function of the colour of the 8x8
image block it came from, so a 3x(C+1) matrix fitted by least squares shows the image at latent
resolution for the price of a matrix product (A1111's and ComfyUI's "approx cheap" previews use
hand-fitted matrices of this kind for SD 1.5 and SDXL). Fitting it here, on images of random colours
encoded and decoded by the model's own VAE, makes it right for any VAE, and checking it on held-out
images says when it is not: a VAE whose latents are not colour-linear (sdlab's small shapes model has
one) gets previews decoded by the VAE itself, which cost more but do not lie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

FIT_IMAGES = 4  # per kind of fitting image (two kinds): 512 latent pixels for 3 x (C + 1) unknowns
FIT_LATENT_SIDE = 8  # fitting images are 8 latent pixels square (64 px for SD): 16 small encodes and decodes in all
MAX_PREVIEW_SIDE = 256
#: A linear map must leave at most this fraction of the error of painting every pixel the mean colour.
ENOUGH = 0.5


@dataclass(frozen=True)
class LinearPreview:
    """latents (scaled, as a pipeline holds them) -> RGB in 0..1: rgb = latents . weight + bias, per latent pixel."""

    weight: torch.Tensor  # (channels, 3)
    bias: torch.Tensor  # (3,)
    scale: int  # image pixels per latent pixel
    error: float  # mean absolute error on held-out images, 0..1
    baseline: float  # the same for a flat image of the mean colour

    def rgb(self, latents: torch.Tensor) -> torch.Tensor:
        """(batch, channels, h, w) latents -> (batch, h, w, 3) colours in 0..1."""
        flat = latents.detach().to("cpu", torch.float32)
        return (torch.einsum("bchw,cr->bhwr", flat, self.weight) + self.bias).clamp(0, 1)

    def images(self, latents: torch.Tensor, max_side: int = MAX_PREVIEW_SIDE) -> list[Image.Image]:
        return _images(self.rgb(latents), self.scale, max_side)


@dataclass(frozen=True)
class DecodePreview:
    """Previews decoded by the VAE itself, for a VAE whose latents no linear map explains."""

    vae: torch.nn.Module
    scale: int
    error: float  # of the linear map that was not enough
    baseline: float

    def images(self, latents: torch.Tensor, max_side: int = MAX_PREVIEW_SIDE) -> list[Image.Image]:
        parameter = next(self.vae.parameters())
        with torch.inference_mode():
            decoded = self.vae.decode(_unscale(self.vae, latents.to(parameter.device, parameter.dtype))).sample
        return _images((decoded.float().cpu() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1), 1, max_side)


LatentPreview = LinearPreview | DecodePreview


def fit_preview(vae, seed: int = 0) -> LatentPreview | None:
    """The linear map fitted by least squares to `vae`, or the VAE itself when held-out images show the map is not
    enough; None when the VAE gives no finite fit (a half-precision VAE overflowing): no previews rather than wrong ones."""
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    generator = torch.Generator("cpu").manual_seed(seed)
    fit_latents, fit_colours = _encode_decode(vae, _fitting_images(scale, generator))
    held_latents, held_colours = _encode_decode(vae, _fitting_images(scale, generator))
    design = _design(fit_latents)
    solution = torch.linalg.lstsq(design, _pixels(fit_colours)).solution
    if not torch.isfinite(solution).all():
        return None
    held = _pixels(held_colours)
    error = ((_design(held_latents) @ solution).clamp(0, 1) - held).abs().mean().item()
    baseline = (held - held.mean(0)).abs().mean().item()
    if error <= ENOUGH * baseline:
        return LinearPreview(solution[:-1].contiguous(), solution[-1].contiguous(), scale, error, baseline)
    return DecodePreview(vae, scale, error, baseline)


def _fitting_images(scale: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth random colour fields and flat rectangles of random colours on random backgrounds, in 0..1."""
    side = FIT_LATENT_SIDE * scale
    smooth = F.interpolate(torch.rand(FIT_IMAGES, 3, 4, 4, generator=generator), size=(side, side), mode="bicubic",
                           align_corners=False).clamp(0, 1)
    blocks = torch.rand(FIT_IMAGES, 3, 1, 1, generator=generator).expand(-1, -1, side, side).clone()
    for image in blocks:
        for _ in range(3):
            x, y = torch.randint(0, side * 3 // 4, (2,), generator=generator).tolist()
            w, h = torch.randint(side // 8, side // 2, (2,), generator=generator).tolist()
            image[:, y:y + h, x:x + w] = torch.rand(3, 1, 1, generator=generator)
    return torch.cat([smooth, blocks])


def _encode_decode(vae, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pipeline-scaled latents of `pixels`, and the colour their decode gives each latent pixel's block."""
    parameter = next(vae.parameters())
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    with torch.inference_mode():
        latents = vae.encode((pixels * 2 - 1).to(parameter.device, parameter.dtype)).latent_dist.mean
        decoded = vae.decode(latents).sample.float().cpu()
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
    scaled = (latents.float().cpu() - shift) * float(vae.config.scaling_factor)
    return scaled, F.avg_pool2d((decoded / 2 + 0.5).clamp(0, 1), scale)


def _unscale(vae, latents: torch.Tensor) -> torch.Tensor:
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
    return latents / float(vae.config.scaling_factor) + shift


def _pixels(images: torch.Tensor) -> torch.Tensor:
    return images.permute(0, 2, 3, 1).reshape(-1, images.shape[1])


def _design(latents: torch.Tensor) -> torch.Tensor:
    rows = _pixels(latents)
    return torch.cat([rows, torch.ones(len(rows), 1)], dim=1)


def _images(rgb: torch.Tensor, scale: int, max_side: int) -> list[Image.Image]:
    """(batch, h, w, 3) colours at 1/scale of the output size -> images no larger than max_side."""
    frames = (rgb * 255).round().to(torch.uint8).numpy()
    height, width = frames.shape[1] * scale, frames.shape[2] * scale
    shrink = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    return [Image.fromarray(np.ascontiguousarray(frame)).resize(size, Image.Resampling.BILINEAR) for frame in frames]
