"""Prompt embeddings for a loaded pipeline (SD 1.x/2.x and SDXL), with A1111 weights and chunking."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sdlab.engine.prompts import encode_chunks, pad_to_same_length, tokenize_weighted


@dataclass(frozen=True)
class Conditioning:
    """Keyword arguments for a diffusers pipeline call that replace `prompt` / `negative_prompt`."""

    prompt_embeds: torch.Tensor
    negative_prompt_embeds: torch.Tensor
    pooled_prompt_embeds: torch.Tensor | None = None
    negative_pooled_prompt_embeds: torch.Tensor | None = None

    def as_kwargs(self) -> dict:
        kwargs = {"prompt_embeds": self.prompt_embeds, "negative_prompt_embeds": self.negative_prompt_embeds}
        if self.pooled_prompt_embeds is not None:
            kwargs["pooled_prompt_embeds"] = self.pooled_prompt_embeds
            kwargs["negative_pooled_prompt_embeds"] = self.negative_pooled_prompt_embeds
        return kwargs


def _encode_sd(pipe, text: str):
    embeds, _ = encode_chunks(tokenize_weighted(text, pipe.tokenizer), pipe.text_encoder)
    return embeds, None


def _encode_sdxl(pipe, text: str):
    parts, pooled = [], None
    for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
        if encoder is None:
            continue
        embeds, pooled_here = encode_chunks(tokenize_weighted(text, tokenizer), encoder, penultimate=True)
        parts.append(embeds)
        pooled = pooled_here if pooled_here is not None else pooled
    length = min(p.shape[1] for p in parts)
    return torch.cat([p[:, :length] for p in parts], dim=-1), pooled


def _mix(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Linear interpolation, exact at both ends."""
    return (1 - t) * a + t * b


@torch.no_grad()
def encode(pipe, prompt: str, negative: str, sdxl: bool, blend_prompt: str | None = None,
           blend: float = 0.0) -> Conditioning:
    """Embeddings of a prompt (moved linearly towards `blend_prompt` by `blend`) and its negative,
    padded to the same number of 77-token chunks."""
    encoder = _encode_sdxl if sdxl else _encode_sd
    positive, pooled = encoder(pipe, prompt)
    if blend_prompt is not None:
        other, other_pooled = encoder(pipe, blend_prompt)
        if positive.shape[1] != other.shape[1]:
            empty, _ = encoder(pipe, "")
            positive, other = pad_to_same_length(positive, other, empty, empty)
        positive = _mix(positive, other, blend)
        pooled = _mix(pooled, other_pooled, blend) if pooled is not None else None
    zero_negative = sdxl and not negative and getattr(pipe.config, "force_zeros_for_empty_prompt", False)
    negative_embeds, negative_pooled = encoder(pipe, negative)
    if positive.shape[1] != negative_embeds.shape[1]:
        empty, _ = encoder(pipe, "")
        positive, negative_embeds = pad_to_same_length(positive, negative_embeds, empty, empty)
    if zero_negative:
        negative_embeds = torch.zeros_like(negative_embeds)
        negative_pooled = torch.zeros_like(negative_pooled) if negative_pooled is not None else None
    return Conditioning(positive, negative_embeds, pooled, negative_pooled)
