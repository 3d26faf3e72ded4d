"""A1111 prompt syntax: attention parsing, 75-token chunking, and weighted embeddings."""

import pytest
import torch
from diffusers import StableDiffusionPipeline

from sdlab.engine.conditioning import encode
from sdlab.engine.prompts import parse_attention, tokenize_weighted


@pytest.mark.parametrize("text, expected", [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006)]),
    ("a BREAK b", [("a ", 1.0), ("BREAK", -1.0), (" b", 1.0)]),
    ("cat: dog", [("cat: dog", 1.0)]),
])
def test_parse_attention_matches_a1111(text, expected):
    got = parse_attention(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


@pytest.fixture(scope="module")
def pipe(sd1_dir):
    return StableDiffusionPipeline.from_pretrained(sd1_dir, safety_checker=None, requires_safety_checker=False)


def test_long_prompts_are_chunked_into_77_token_windows(pipe):
    long = ", ".join(["a red circle on the white background"] * 20)
    chunks = tokenize_weighted(long, pipe.tokenizer)
    assert chunks.ids.shape[0] >= 2 and chunks.ids.shape[1] == 77
    assert all(row[0] == pipe.tokenizer.bos_token_id for row in chunks.ids.tolist())
    # A1111 breaks at the last comma when one is within 20 tokens of the limit: the next chunk starts a phrase.
    second = pipe.tokenizer.convert_ids_to_tokens(chunks.ids[1, 1:3].tolist())
    assert second[0] == "a</w>"
    conditioning = encode(pipe, long, "", sdxl=False)
    assert conditioning.prompt_embeds.shape[1] == 77 * chunks.ids.shape[0]
    assert conditioning.negative_prompt_embeds.shape == conditioning.prompt_embeds.shape  # padded to pair


def test_break_starts_a_new_chunk(pipe):
    assert tokenize_weighted("a red circle BREAK a blue square", pipe.tokenizer).ids.shape[0] == 2


def test_plain_prompt_matches_diffusers_encoding(pipe):
    ours = encode(pipe, "a red circle", "a blue square", sdxl=False)
    theirs, theirs_negative = pipe.encode_prompt("a red circle", "cpu", 1, True, "a blue square")
    assert torch.allclose(ours.prompt_embeds, theirs, atol=1e-6)
    assert torch.allclose(ours.negative_prompt_embeds, theirs_negative, atol=1e-6)


def test_weights_change_only_the_weighted_tokens_direction(pipe):
    plain = encode(pipe, "a red circle", "", sdxl=False).prompt_embeds
    weighted = encode(pipe, "a (red:1.5) circle", "", sdxl=False).prompt_embeds
    assert not torch.allclose(plain, weighted)
    assert torch.isclose(plain.mean(), weighted.mean(), atol=1e-5)  # A1111 restores the original mean
