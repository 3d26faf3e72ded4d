"""Step previews: the latent -> RGB map is fitted exactly where the VAE is linear, refused where it is not,
and the previews of a real run on the embedded model converge to the image it draws."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from sdlab.engine.previews import DecodePreview, LinearPreview, fit_preview
from sdlab.requests import build_request
from sdlab.world import judge

PROMPT = "a red circle on a white background"


class _AffineVae(torch.nn.Module):
    """A VAE whose latents are an affine function of each 2x2 block's mean colour, scaled as SD's are."""

    def __init__(self, nonlinear: bool = False) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(1)
        self.encode_matrix = torch.nn.Parameter(torch.randn(4, 3, generator=generator), requires_grad=False)
        self.offset = torch.nn.Parameter(torch.randn(4, generator=generator), requires_grad=False)
        self.nonlinear = nonlinear
        self.config = SimpleNamespace(block_out_channels=[8, 8], scaling_factor=0.5, shift_factor=None)

    def encode(self, pixels):
        blocks = F.avg_pool2d(pixels, 2)
        latents = torch.einsum("lc,bchw->blhw", self.encode_matrix, blocks) + self.offset[None, :, None, None]
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=latents))

    def decode(self, latents):
        centred = latents - self.offset[None, :, None, None]
        colours = torch.einsum("cl,blhw->bchw", torch.linalg.pinv(self.encode_matrix), centred)
        if self.nonlinear:  # a code no linear map reads: colours folded by a fast sine
            colours = torch.sin(7 * latents[:, :3])
        return SimpleNamespace(sample=F.interpolate(colours, scale_factor=2, mode="nearest"))


def test_a_linear_vae_is_read_exactly_by_the_fitted_map():
    vae = _AffineVae()
    preview = fit_preview(vae)
    assert isinstance(preview, LinearPreview) and preview.scale == 2 and preview.error < 1e-4
    pixels = torch.rand(2, 3, 8, 8) * 2 - 1
    latents = vae.encode(pixels).latent_dist.mean * 0.5  # as a pipeline holds them
    expected = ((F.avg_pool2d(pixels, 2) / 2 + 0.5).clamp(0, 1)).permute(0, 2, 3, 1)
    assert torch.allclose(preview.rgb(latents), expected, atol=1e-4)
    assert [image.size for image in preview.images(latents)] == [(8, 8), (8, 8)]


def test_a_vae_no_linear_map_explains_gets_decoded_previews():
    preview = fit_preview(_AffineVae(nonlinear=True))
    assert isinstance(preview, DecodePreview) and preview.error > 0.5 * preview.baseline


def test_previews_of_a_run_converge_to_the_image(engine):
    events = []
    result = engine.generate(build_request(prompt=PROMPT, seed=3, steps=12), progress=events.append, previews=True)
    image = np.asarray(result.images[0].image, dtype=float) / 255
    distances = []
    for event in events:
        preview = event.previews()[0].resize(result.images[0].image.size)
        distances.append(np.abs(np.asarray(preview, dtype=float) / 255 - image).mean())
    assert len(distances) == 12 and distances[-1] < 0.02 < distances[0]
    assert judge(events[-1].previews()[0]).matches("red", "circle", "white")


def test_without_previews_asked_the_events_carry_none(engine):
    events = []
    engine.generate(build_request(prompt=PROMPT, seed=3, steps=3), progress=events.append)
    assert events and events[0].preview_map is None and events[0].previews() == []
