"""A1111 prompt syntax: attention weights, BREAK, and prompts longer than 77 tokens.

`(word)` multiplies attention by 1.1, `[word]` divides by 1.1, `(word:1.3)` sets
1.3, `\\(` is a literal bracket, and `BREAK` starts a new 75-token chunk. Long
prompts are encoded in 75-token chunks, each wrapped in start/end tokens, and
the chunk embeddings concatenated, as A1111 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

ROUND, SQUARE = 1.1, 1 / 1.1
CHUNK = 75
#: How far back from a full chunk A1111 looks for a comma to break at.
COMMA_BACKTRACK = 20

_TOKEN = re.compile(r"\\[\\()\[\]]|\\|\(|\)|\[|\]|:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)|BREAK(?=\s|$)|[^\\()\[\]:B]+|:|B", re.S)


def parse_attention(text: str) -> list[tuple[str, float]]:
    """Split a prompt into (text, weight) fragments; ("BREAK", -1) marks a chunk break."""
    out: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def scale(start: int, factor: float) -> None:
        for piece in out[start:]:
            piece[1] *= factor

    for match in _TOKEN.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\") and len(token) == 2:
            out.append([token[1], 1.0])
        elif token == "(":
            round_open.append(len(out))
        elif token == "[":
            square_open.append(len(out))
        elif weight is not None and round_open:
            scale(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            scale(round_open.pop(), ROUND)
        elif token == "]" and square_open:
            scale(square_open.pop(), SQUARE)
        elif token == "BREAK":
            out.append(["BREAK", -1.0])
        else:
            out.append([token, 1.0])
    for start in round_open:
        scale(start, ROUND)
    for start in square_open:
        scale(start, SQUARE)

    merged: list[tuple[str, float]] = []
    for piece, w in out:
        if merged and merged[-1][1] == w and w != -1 and piece != "BREAK":
            merged[-1] = (merged[-1][0] + piece, w)
        else:
            merged.append((piece, w))
    return [(t, w) for t, w in merged if t] or [("", 1.0)]


@dataclass(frozen=True)
class TokenChunks:
    """Token ids (each chunk BOS + 75 + EOS, padded) and their weights."""

    ids: torch.Tensor  # (chunks, 77)
    weights: torch.Tensor  # (chunks, 77)


def tokenize_weighted(text: str, tokenizer) -> TokenChunks:
    """Tokenize a weighted prompt into 75-token chunks, breaking at a recent comma as A1111 does."""
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    chunks: list[tuple[list[int], list[float]]] = []
    ids: list[int] = []
    weights: list[float] = []
    last_comma = -1

    def close() -> None:
        nonlocal ids, weights, last_comma
        chunks.append((ids, weights))
        ids, weights, last_comma = [], [], -1

    for piece, weight in parse_attention(text):
        if weight == -1:
            close()
            continue
        for token in tokenizer(piece, add_special_tokens=False, truncation=False).input_ids:
            if token == comma:
                last_comma = len(ids)
            elif len(ids) == CHUNK and last_comma != -1 and len(ids) - last_comma <= COMMA_BACKTRACK:
                cut = last_comma + 1
                rest_ids, rest_w = ids[cut:], weights[cut:]
                ids, weights = ids[:cut], weights[:cut]
                close()
                ids, weights = rest_ids, rest_w
            if len(ids) == CHUNK:
                close()
            ids.append(token)
            weights.append(weight)
    if ids or not chunks:
        close()

    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    rows, wrows = [], []
    for chunk_ids, chunk_w in chunks:
        fill = CHUNK - len(chunk_ids)
        rows.append([bos] + chunk_ids + [eos] + [pad] * fill)
        wrows.append([1.0] + chunk_w + [1.0] + [1.0] * fill)
    return TokenChunks(torch.tensor(rows), torch.tensor(wrows))


def encode_chunks(chunks: TokenChunks, text_encoder, clip_skip: int = 1, penultimate: bool = False):
    """Hidden states of each chunk, weighted and rescaled to the unweighted mean; returns (embeds, pooled of chunk 0)."""
    device = text_encoder.device
    out = text_encoder(chunks.ids.to(device), output_hidden_states=penultimate or clip_skip > 1)
    if penultimate:
        hidden = out.hidden_states[-2]
    elif clip_skip > 1:
        hidden = getattr(text_encoder, "text_model", text_encoder).final_layer_norm(out.hidden_states[-clip_skip])
    else:
        hidden = out[0]
    pooled = out.text_embeds[:1] if hasattr(out, "text_embeds") else None
    weights = chunks.weights.to(device=device, dtype=hidden.dtype)
    if torch.any(weights != 1):
        original = hidden.mean()
        hidden = hidden * weights.unsqueeze(-1)
        hidden = hidden * (original / hidden.mean())
    return hidden.reshape(1, -1, hidden.shape[-1]), pooled


def pad_to_same_length(a: torch.Tensor, b: torch.Tensor, empty_a: torch.Tensor, empty_b: torch.Tensor):
    """Append empty-prompt chunks to the shorter of two chunked embeddings so CFG can pair them."""
    while a.shape[1] < b.shape[1]:
        a = torch.cat([a, empty_a], dim=1)
    while b.shape[1] < a.shape[1]:
        b = torch.cat([b, empty_b], dim=1)
    return a, b
