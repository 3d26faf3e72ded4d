"""The optional safety checker: reported per image, and never blacks an image out."""

import shutil

import numpy as np
import pytest
import torch
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from transformers import CLIPConfig, CLIPImageProcessor

from sdlab.errors import UsageError
from sdlab.requests import build_request


def with_checker(source, destination, threshold: float):
    """A copy of the tiny model with a tiny checker whose every concept fires (threshold -1) or none does (+1)."""
    shutil.copytree(source, destination)
    torch.manual_seed(0)
    config = CLIPConfig(text_config={"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2},
                        vision_config={"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                        projection_dim=8)
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(threshold)
    checker.save_pretrained(destination / "safety_checker")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(destination / "feature_extractor")
    return destination


@pytest.mark.parametrize("threshold, flagged", [(-1.0, True), (1.0, False)])
def test_checker_reports_without_blacking_out(engine, sd1_dir, tmp_path, threshold, flagged):
    model = with_checker(sd1_dir, tmp_path / "m", threshold)
    fields = dict(prompt="a red circle", model=str(model), steps=2, width=32, height=32, seed=1, batch_size=2)
    checked = engine.generate(build_request(**fields, safety_checker=True))
    plain = engine.generate(build_request(**fields))
    assert [im.nsfw for im in checked.images] == [flagged, flagged]
    assert [im.nsfw for im in plain.images] == [None, None]
    for a, b in zip(checked.images, plain.images):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and np.asarray(a.image).max() > 0


def test_asking_for_a_checker_the_model_lacks(engine, sd1_dir):
    with pytest.raises(UsageError, match="ships no safety checker"):
        engine.generate(build_request(prompt="x", model=str(sd1_dir), steps=1, width=32, height=32, safety_checker=True))
