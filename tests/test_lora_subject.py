"""The subject exercise for real: a LoRA teaches the embedded model a shape it has never drawn."""

from __future__ import annotations

import pytest

from sdlab.eval.subject import score_subject, write_subject_data
from sdlab.requests.lora_training import build_lora_request
from sdlab.training.lora.trainer import train_lora


@pytest.fixture(scope="module")
def star_lora(tmp_path_factory):
    work = tmp_path_factory.mktemp("subject")
    data = write_subject_data(work / "data")
    out = work / "star.safetensors"
    train_lora(build_lora_request(data=str(data), output=str(out), rank=8, steps=STEPS, batch_size=8, unet_lr=3e-3,
                                  text_encoder_lr=1.5e-3, train_text_encoder=True, unet_targets="all"),
               log=lambda _: None)
    return out


STEPS = 300


def test_base_model_cannot_draw_the_subject(engine):
    assert score_subject(engine, None, per_prompt=4).identity == 0.0


def test_lora_draws_the_subject_in_unseen_colours_and_backgrounds(engine, star_lora):
    on = score_subject(engine, star_lora, 1.0, per_prompt=8)
    assert on.images == 48
    assert on.identity >= IDENTITY, on  # stars, in colours and on backgrounds no training image had
    assert on.fidelity == on.identity  # every star is the asked colour on the asked background
    assert on.colour >= 0.9 and on.background >= 0.9, on


def test_identity_on_the_training_colours_and_backgrounds(engine, star_lora):
    seen = score_subject(engine, star_lora, 1.0, per_prompt=4, seen=True)
    assert seen.identity >= SEEN_IDENTITY, seen


def test_weight_zero_turns_it_off(engine, star_lora):
    assert score_subject(engine, star_lora, 0.0, per_prompt=4).identity == 0.0


#: Measured at these settings: 41.7 % of 48 images (unseen), 54.2 % of 24 (trained colours); the base model 0 %.
IDENTITY = 0.2
SEEN_IDENTITY = 0.3
