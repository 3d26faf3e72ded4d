"""Property-based tests (hypothesis) of the parsers that take untrusted text: any input either validates or raises
sdlab's usage error, and what sdlab writes it reads back identically."""

from __future__ import annotations

import json
import struct

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sdlab.engine.formats import safetensors_header
from sdlab.engine.prompts import parse_attention
from sdlab.errors import ModelLoadError, UsageError
from sdlab.eval.axes import parse_axis
from sdlab.requests import GenerationRequest, build_request
from sdlab.requests.infotext import format_infotext, infotext_params, parse_infotext, request_fields
from sdlab.requests.lora_tags import split_tags
from sdlab.requests.result import Resolved

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Text as users and files produce it: any characters, biased towards the ones the syntaxes care about.
TEXT = st.lists(st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(list("()[]:,\n\\<>\"' ")),
                          st.sampled_from(["BREAK", "<lora:", "Negative prompt:", "Steps: 2", "\r\n"])),
                max_size=30).map("".join)
ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT,
                st.lists(st.integers(), max_size=3), st.dictionaries(TEXT, st.integers(), max_size=2))


@SETTINGS
@given(st.dictionaries(st.sampled_from(sorted(GenerationRequest.model_fields) + ["bogus", "size"]), ANY, max_size=6))
def test_any_request_fields_validate_or_raise_a_usage_error(fields):
    try:
        request = build_request(**fields)
    except UsageError as exc:
        assert exc.argument and exc.message  # names the argument and says what is wrong
        return
    assert isinstance(request, GenerationRequest)
    request.lora_tags  # a valid request's tags are valid  # noqa: B018


@SETTINGS
@given(TEXT)
def test_attention_parser_takes_any_prompt(text):
    pieces = parse_attention(text)
    assert pieces and all(isinstance(t, str) and isinstance(w, float) for t, w in pieces)


@SETTINGS
@given(TEXT)
@example("<lora:<>")  # found by this test: a tag with < inside once passed as words
@example("a <lora:name")
def test_lora_tags_are_valid_or_refused(text):
    try:
        clean, tags = split_tags(text)
    except ValueError:
        return
    assert "<lora:" not in clean or ">" not in clean.split("<lora:", 1)[1]
    for tag in tags:
        assert "/" not in tag.name and "\\" not in tag.name and tag.name not in ("", ".", "..")
        assert -10 <= tag.weight <= 10


@SETTINGS
@given(TEXT)
def test_axis_specs_parse_or_raise_a_usage_error(spec):
    try:
        axis = parse_axis(spec, "x")
    except UsageError as exc:
        assert exc.argument == "x"
        return
    assert axis.values and len(set(axis.values)) == len(axis.values)


@SETTINGS
@given(TEXT)
def test_any_infotext_parses(text):
    info = parse_infotext(text)
    assert isinstance(info["Prompt"], str) and isinstance(info["Negative prompt"], str)
    try:
        request_fields(text)
    except UsageError:
        pass


def _resolved(prompt: str, negative: str, blend_prompt: str | None, seed: int, cfg: float, steps: int, size: int,
              strength: float | None) -> Resolved:
    return Resolved(task="img2img" if strength is not None else "txt2img", prompt=prompt, negative_prompt=negative,
                    model_name="m", model_hash="0123456789", sampler="DPM++ 2M Karras", schedule="karras", steps=steps,
                    cfg=cfg, seed=seed, width=size, height=size, batch_size=1, batch_count=1, strength=strength,
                    mask_blur=None, inpaint_only_masked=False, inpaint_padding=None, blend_prompt=blend_prompt,
                    blend=0.25 if blend_prompt is not None else None)


@SETTINGS
@given(prompt=TEXT, negative=TEXT, blend_prompt=st.one_of(st.none(), TEXT), seed=st.integers(0, 2**32 - 1),
       cfg=st.floats(0, 100), steps=st.integers(1, 1000), size=st.integers(1, 1024).map(lambda n: n * 8),
       strength=st.one_of(st.none(), st.floats(0, 1)))
def test_what_sdlab_writes_it_reads_back_identically(prompt, negative, blend_prompt, seed, cfg, steps, size, strength):
    """A valid request's infotext gives back the same request fields: prompts byte for byte, numbers exactly."""
    try:
        request = build_request(prompt=prompt, negative_prompt=negative, blend_prompt=blend_prompt, seed=seed, cfg=cfg,
                                steps=steps, width=size, height=size, **({"task": "img2img", "image": "x.png",
                                                                          "strength": strength} if strength is not None else {}))
    except UsageError:
        return  # e.g. a prompt line that starts with "Negative prompt:" is refused up front
    resolved = _resolved(request.prompt, request.negative_prompt, request.blend_prompt, seed, cfg, steps, size, strength)
    text = format_infotext(resolved.prompt, resolved.negative_prompt, infotext_params(resolved, 0))
    fields = request_fields(text, task=resolved.task)
    assert fields["prompt"] == request.prompt and fields["negative_prompt"] == request.negative_prompt
    assert (fields["seed"], fields["steps"], fields["cfg"], fields["width"], fields["height"]) == (seed, steps, cfg, size, size)
    assert fields["sampler"] == "DPM++ 2M Karras" and fields.get("strength") == strength
    assert fields.get("blend_prompt") == request.blend_prompt
    again = build_request(**{k: v for k, v in fields.items() if k != "model"},
                          **({"task": "img2img", "image": "x.png"} if strength is not None else {}))
    assert (again.prompt, again.negative_prompt, again.blend_prompt) == (request.prompt, request.negative_prompt,
                                                                         request.blend_prompt)


ENTRY = st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "F16", "I8", "F33", 5]),
                               "shape": st.one_of(st.lists(st.integers(-2, 4), max_size=3), st.integers()),
                               "data_offsets": st.one_of(st.lists(st.integers(-4, 40), min_size=0, max_size=3), TEXT)})


@SETTINGS
@given(header=st.dictionaries(TEXT, st.one_of(ENTRY, ANY), max_size=4), body=st.binary(max_size=48),
       cut=st.integers(0, 8))
def test_any_safetensors_header_is_valid_or_a_clear_error(tmp_path_factory, header, body, cut):
    raw = json.dumps(header).encode()
    blob = struct.pack("<Q", len(raw)) + raw + body
    path = tmp_path_factory.mktemp("st") / "x.safetensors"
    path.write_bytes(blob[: len(blob) - cut] if cut else blob)
    try:
        parsed = safetensors_header(path)
    except ModelLoadError as exc:
        assert str(path) in exc.message
        return
    from safetensors.torch import load_file

    load_file(str(path))  # what sdlab accepts, the real reader reads
    assert isinstance(parsed, dict)
