"""Latent-space walks: variation seeds (slerp of noise) and prompt blends (lerp of embeddings)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from typer.testing import CliRunner

from sdlab.cli.generate import request_fields_of as request_from_image
from sdlab.cli.main import app
from sdlab.engine.noise import slerp, variation_latents
from sdlab.errors import UsageError
from sdlab.eval.axes import apply, parse_axis
from sdlab.eval.sweep import run_sweep
from sdlab.requests import build_request

PROMPT = "a red circle on a white background"
OTHER = "a blue square on a black background"


def pixels(result) -> list[np.ndarray]:
    return [np.asarray(item.image, dtype=np.int16) for item in result.images]


def test_slerp_follows_the_great_circle():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.equal(slerp(0.0, a, b), a) and torch.equal(slerp(1.0, a, b), b)
    assert torch.allclose(slerp(0.5, a, b), torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.allclose(slerp(1 / 3, a, b), torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]))
    same = torch.tensor([2.0, 2.0])
    assert torch.allclose(slerp(0.3, same, same), same)  # parallel vectors: no division by sin(0)
    noise_a, noise_b = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(1)), torch.randn(4, 8, 8)
    middle = slerp(0.5, noise_a, noise_b)
    assert abs(middle.std().item() - 1.0) < 0.1  # a lerp would shrink it to about 0.71
    assert abs(((noise_a + noise_b) / 2).std().item() - 0.71) < 0.1


def test_variation_noise_draws_seed_noise_as_diffusers_does():
    shape = (4, 8, 8)
    ours = [torch.Generator().manual_seed(s) for s in (5, 6)]
    theirs = [torch.Generator().manual_seed(s) for s in (5, 6)]
    latents = variation_latents(ours, [9, 10], 0.0, shape, torch.float32)
    assert torch.equal(latents, randn_tensor((2, *shape), generator=theirs, dtype=torch.float32))
    # the generators are left where diffusers leaves them, so ancestral samplers' step noise is unchanged
    assert torch.equal(torch.randn(3, generator=ours[1]), torch.randn(3, generator=theirs[1]))
    full = variation_latents([torch.Generator().manual_seed(5)], [9], 1.0, shape, torch.float32)
    assert torch.equal(full[0], torch.randn((1, *shape), generator=torch.Generator().manual_seed(9))[0])


def test_variation_seed_walks_from_one_seed_to_another(engine):
    def run(**fields):
        return engine.generate(build_request(prompt=PROMPT, batch_size=2, steps=8, **fields))

    plain, other = run(seed=1), run(seed=11)
    start = run(seed=1, variation_seed=11, variation_strength=0.0)
    end = run(seed=1, variation_seed=11, variation_strength=1.0)
    middle = run(seed=1, variation_seed=11, variation_strength=0.5)
    for a, b in zip(pixels(start), pixels(plain)):
        assert np.array_equal(a, b)
    for a, b in zip(pixels(end), pixels(other)):  # image i uses variation seed + i, as A1111
        assert np.array_equal(a, b)
    for m, a, b in zip(pixels(middle), pixels(plain), pixels(other)):
        assert np.abs(m - a).mean() > 1 and np.abs(m - b).mean() > 1
    assert "Variation seed: 12, Variation seed strength: 0.5" in middle.images[1].infotext
    assert "Variation seed" not in start.images[0].infotext  # strength 0: not a variation
    assert middle.resolved.variation_seed == 11


def test_variation_parameters_are_read_back_from_an_image(engine, tmp_path):
    result = engine.generate(build_request(prompt=PROMPT, seed=3, steps=4, variation_seed=8, variation_strength=0.25,
                                           blend_prompt=OTHER, blend=0.3))
    path = result.images[0].save(tmp_path / "walk.png")
    fields = request_from_image(path)
    assert (fields["variation_seed"], fields["variation_strength"], fields["blend_prompt"], fields["blend"]) == \
        (8, 0.25, OTHER, 0.3)
    again = engine.generate(build_request(**fields))
    assert np.array_equal(pixels(again)[0], pixels(result)[0])


def test_prompt_blend_is_exact_at_both_ends(engine):
    def run(prompt, **fields):
        return pixels(engine.generate(build_request(prompt=prompt, seed=4, steps=8, **fields)))[0]

    assert np.array_equal(run(PROMPT, blend_prompt=OTHER, blend=0.0), run(PROMPT))
    assert np.array_equal(run(PROMPT, blend_prompt=OTHER, blend=1.0), run(OTHER))
    middle = run(PROMPT, blend_prompt=OTHER, blend=0.5)
    assert np.abs(middle - run(PROMPT)).mean() > 1 and np.abs(middle - run(OTHER)).mean() > 1


def test_walks_on_sdxl(engine, sdxl_dir):
    def run(seed=2, **fields):
        request = build_request(prompt="a cat", model=str(sdxl_dir), seed=seed, steps=2, width=64, height=64, **fields)
        return pixels(engine.generate(request))[0]

    assert np.array_equal(run(blend_prompt="a dog", blend=0.0), run())
    assert not np.array_equal(run(blend_prompt="a dog", blend=1.0), run())
    assert np.array_equal(run(variation_seed=3, variation_strength=1.0), run(seed=3))


@pytest.mark.parametrize("fields, argument, message", [
    ({"variation_strength": 1.5}, "variation-strength", "between 0 and 1"),
    ({"blend": -0.1, "blend_prompt": OTHER}, "blend", "between 0 and 1"),
    ({"variation_seed": -2}, "variation-seed", "-1 \\(random\\)"),
    ({"blend_prompt": "<lora:x:1> a"}, "blend-prompt", "no <lora"),
    ({"variation_strength": 0.5, "task": "img2img", "image": "x.png"}, "variation-strength", "text-to-image only"),
])
def test_bad_walk_requests(fields, argument, message):
    with pytest.raises(UsageError, match=message) as error:
        build_request(prompt=PROMPT, **fields)
    assert error.value.argument == argument


def test_walk_axes(engine, tmp_path):
    assert parse_axis("subseed-strength=0-1 [3]").values == (0.0, 0.5, 1.0)
    with pytest.raises(UsageError, match="no --blend-prompt"):
        apply({"prompt": PROMPT}, parse_axis("blend=0,1"), 0.0)
    # no variation seed given: one is picked for the whole sweep, so only the strength differs between cells
    sweep = run_sweep(engine, {"prompt": PROMPT, "seed": 1, "steps": 8, "batch_size": 2},
                      parse_axis("variation-strength=0,0.5,1"), None, tmp_path / "walk")
    changes = [row["change"] for row in sweep.rows]
    assert changes[0] == 0 and 0 < changes[1] < changes[2]
    blend = run_sweep(engine, {"prompt": PROMPT, "blend_prompt": OTHER, "seed": 1, "batch_size": 4},
                      parse_axis("blend=0,1"), None, tmp_path / "blend")
    first, last = blend.rows
    assert first["adherence"] > last["adherence"] and last["adherence_blend"] > first["adherence_blend"]


def test_cli_walk_options(tmp_path):
    runner = CliRunner()
    out = tmp_path / "walk.png"
    result = runner.invoke(app, ["generate", PROMPT, "--seed", "1", "--steps", "4", "--variation-seed", "5",
                                 "--variation-strength", "0.4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Variation seed: 5, Variation seed strength: 0.4" in Image.open(out).info["parameters"]
    bad = runner.invoke(app, ["generate", PROMPT, "--variation-strength", "2", "-o", str(tmp_path / "x.png")])
    assert bad.exit_code == 2 and "variation-strength" in bad.output and "between 0 and 1" in bad.output
