"""What the UNet is conditioned on during training: caption embeddings (SD and SDXL) and image latents.

Both can be cached: a caption's embedding never changes while the text encoder is frozen, and
an image's latent (the mean of the VAE's posterior, scaled) never changes at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sdlab.training.images import to_tensor
from sdlab.training.lora.data import Example, load


@dataclass(frozen=True)
class TextCondition:
    hidden: torch.Tensor  # (N, 77, D)
    pooled: torch.Tensor | None = None  # (N, D2), SDXL only

    @staticmethod
    def stack(parts: list["TextCondition"]) -> "TextCondition":
        pooled = [p.pooled for p in parts]
        return TextCondition(torch.cat([p.hidden for p in parts]),
                             torch.cat(pooled) if pooled[0] is not None else None)


def encode_captions(pipe, captions: list[str], sdxl: bool, device: torch.device) -> TextCondition:
    """Embed captions as the pipelines do: SD's last hidden state; SDXL's penultimate states of both encoders + pooled."""
    if not sdxl:
        ids = pipe.tokenizer(captions, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(device)
        return TextCondition(pipe.text_encoder(ids)[0])
    hidden, pooled = [], None
    for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
        ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids.to(device)
        out = encoder(ids, output_hidden_states=True)
        hidden.append(out.hidden_states[-2])
        pooled = out[0]  # text_encoder_2's projected pooled output
    return TextCondition(torch.cat(hidden, dim=-1), pooled)


def sdxl_time_ids(bucket: tuple[int, int], count: int, device: torch.device) -> torch.Tensor:
    """SDXL's micro-conditioning: original size, crop corner, target size (all the bucket; no crop)."""
    width, height = bucket
    return torch.tensor([[height, width, 0, 0, height, width]] * count, dtype=torch.float32, device=device)


@dataclass
class Encoder:
    """Latents and caption embeddings for examples, optionally memoised (the cache lives with one training run)."""

    pipe: object
    sdxl: bool
    device: torch.device
    cache_latents: bool
    cache_text: bool
    _latents: dict = field(default_factory=dict)
    _texts: dict = field(default_factory=dict)
    _vae_dtype: torch.dtype | None = None

    def __post_init__(self) -> None:
        self._vae_dtype = self.pipe.vae.dtype  # diffusers walks every module to answer this: ask once

    @torch.no_grad()
    def _encode_images(self, examples: list[Example], bucket: tuple[int, int], flips: list[bool]) -> torch.Tensor:
        vae = self.pipe.vae
        pixels = to_tensor([load(e, bucket, f) for e, f in zip(examples, flips)]).to(self.device, self._vae_dtype)
        return (vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor).float()

    def latents(self, examples: list[Example], bucket: tuple[int, int], flips: list[bool]) -> torch.Tensor:
        if not self.cache_latents:
            return self._encode_images(examples, bucket, flips)
        # One image at a time, so a cached latent never depends on which batch first asked for it.
        keys = [(e.path, bucket, f) for e, f in zip(examples, flips)]
        for key, example, flip in zip(keys, examples, flips):
            if key not in self._latents:
                self._latents[key] = self._encode_images([example], bucket, [flip])[0]
        return torch.stack([self._latents[key] for key in keys])

    def text(self, captions: list[str]) -> TextCondition:
        if not self.cache_text:
            return encode_captions(self.pipe, captions, self.sdxl, self.device)
        for caption in captions:
            if caption not in self._texts:
                with torch.no_grad():
                    self._texts[caption] = encode_captions(self.pipe, [caption], self.sdxl, self.device)
        return TextCondition.stack([self._texts[c] for c in captions])
