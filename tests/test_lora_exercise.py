"""The LoRA exercise: rank x steps cells, one training per rank extended by resume, report, resume, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import tiny_models
from sdlab.cli.main import app
from sdlab.errors import UsageError
from sdlab.eval.exercises import lora_exercise
from sdlab.eval.metrics import load_clip
from sdlab.requests.lora_training import build_lora_request
from sdlab.training.lora.trainer import train_lora

SMALL = dict(ranks=(2,), per_prompt=1, batch_size=2)


def test_grid_on_the_embedded_model_resumes_and_extends(engine, tmp_path):
    first = lora_exercise(engine, tmp_path, steps=(4, 2), **SMALL)
    assert [(r["rank"], r["steps"]) for r in first.table] == [(2, 2), (2, 4)]
    assert {"identity", "fidelity", "identity_seen", "identity_off"} <= set(first.table[0])
    assert all(r["identity_off"] == 0 for r in first.table)  # the base model never draws a star
    report = first.report.read_text()
    assert "| steps | rank | identity | fidelity |" in report and "![fidelity](plot-fidelity.png)" in report
    assert Image.open(tmp_path / "grid.png").size == (110 + 2 * 128 + 10, 48 + 128 + 10)  # steps across, ranks down
    assert len(json.loads((tmp_path / "results.json").read_text())) == 2

    done = {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/cell.json")}
    again = lora_exercise(engine, tmp_path, steps=(2, 4, 6), **SMALL)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("cells/*/cell.json") if p in done} == done  # kept
    assert [r["steps"] for r in again.table] == [2, 4, 6]
    # the 6-step cell resumed the rank's 4-step training: the same weights as 6 steps straight through
    straight = tmp_path / "straight.safetensors"
    train_lora(build_lora_request(data=str(tmp_path / "data"), output=str(straight), rank=2, steps=6, batch_size=2,
                                  unet_lr=3e-3, text_encoder_lr=1.5e-3, train_text_encoder=True, unet_targets="all"),
               log=lambda _: None, progress=lambda *_: None)
    extended, reference = load_file(tmp_path / "cells" / "rank2-steps6" / "lora.safetensors"), load_file(straight)
    assert extended.keys() == reference.keys()
    assert max((extended[k] - reference[k]).abs().max().item() for k in reference) < 1e-5

    with pytest.raises(UsageError, match="another sweep"):  # other settings in the same folder are refused
        lora_exercise(engine, tmp_path, steps=(2,), lr=1e-3, **SMALL)


def test_own_subject_on_a_real_model_is_scored_with_clip(engine, sd1_dir, tmp_path):
    data = tmp_path / "dog"
    data.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(data / f"{index}.png")
    clip = load_clip(str(tiny_models.clip(tmp_path / "clip")))
    exercise = lora_exercise(engine, tmp_path / "out", model=str(sd1_dir), data=data, trigger="sks dog",
                             templates=("a photo of {subject}", "{subject} on the white background"), clip=clip,
                             ranks=(2, 4), steps=(1,), per_prompt=2, targets="attention", resolution=32)
    assert [r["rank"] for r in exercise.table] == [2, 4]
    for row in exercise.table:
        assert -1 <= row["identity"] <= 1 and -1 <= row["identity_off"] <= 1
        assert 0 <= row["fidelity"] <= 100 and 0 <= row["fidelity_off"] <= 100
    assert "CLIP-I" in exercise.answer and "Best cell: rank" in exercise.answer
    cell = tmp_path / "out" / "cells" / "rank4-steps1"
    assert len(list(cell.glob("*.png"))) == 4  # two templates x two images, with the LoRA on
    assert json.loads((cell / "cell.json").read_text())["fields"]["scorer"] == "clip"
    ranks = {t.shape[0] for k, t in load_file(cell / "lora.safetensors").items() if k.endswith("lora_down.weight")}
    assert ranks == {4}


@pytest.mark.parametrize("kwargs, argument", [
    ({"model": "x"}, "data"),
    ({"data": "d"}, "trigger"),
    ({"data": "d", "trigger": "sks dog", "templates": ("a photo",)}, "prompt"),
    ({"data": "d", "trigger": "sks dog"}, "clip-model"),
    ({"steps": ()}, "steps"),
    ({"ranks": (0,)}, "rank"),
])
def test_bad_lora_exercise_input(engine, tmp_path, kwargs, argument):
    with pytest.raises(UsageError) as error:
        lora_exercise(engine, tmp_path, **kwargs)
    assert error.value.argument == argument
    assert not (tmp_path / "cells").exists()  # refused before anything is trained


def test_lora_exercise_cli_bad_input(tmp_path):
    result = CliRunner().invoke(app, ["exercise", "lora", "--model", str(tmp_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "data: give the subject's images" in result.output
    result = CliRunner().invoke(app, ["exercise", "lora", "--steps", "0", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "steps: must be at least 1" in result.output


def test_the_answer_names_the_best_cell_and_over_fitting():
    from sdlab.eval.exercises.lora import _answer

    def row(rank, steps, fidelity, identity=None):
        return {"rank": rank, "steps": steps, "identity": fidelity if identity is None else identity,
                "fidelity": fidelity, "identity_seen": 0.5, "identity_off": 0.0}

    table = [row(4, 100, 0.0), row(4, 200, 0.0), row(8, 100, 0.3), row(8, 200, 0.5), row(8, 400, 0.2)]
    answer = _answer(table, judged=True)
    assert answer.startswith("Best cell: rank 8 at 200 steps, where 50% of the images")
    assert "Rank 4 never learns the subject in 200 steps." in answer
    assert "Rank 8 over-fits past 200 steps: fidelity falls from 50% to 20% at 400." in answer
    assert _answer([row(4, 100, 0.5), row(4, 200, 0.5)], judged=True).endswith("Rank 4 does not over-fit within 200 steps.")
    assert _answer([row(4, 100, 0.0, 0.25)], judged=True).startswith("No cell draws the subject as asked: identity is at most 25%")
    clip_rows = [{"rank": 4, "steps": 100, "identity": 0.6, "fidelity": 30.0, "identity_off": 0.4, "fidelity_off": 31.0},
                 {"rank": 4, "steps": 200, "identity": 0.9, "fidelity": 25.0, "identity_off": 0.4, "fidelity_off": 31.0}]
    assert _answer(clip_rows, judged=False).startswith("Best cell: rank 4 at 200 steps: identity (CLIP-I) 0.900")


def test_on_a_world_two_model_the_subject_is_world_two_s_and_judged(engine, tmp_path):
    """Mechanics on a seconds-trained world-2 model (its scores mean nothing): world 2's subject data and prompts."""
    from sdlab.training.base.config import TINY2
    from sdlab.training.base.trainer import train_base
    from sdlab.world2 import parse

    model = train_base(tmp_path / "run", TINY2, log=lambda m: None)
    exercise = lora_exercise(engine, tmp_path / "out", model=str(model), steps=(2,), ranks=(2,), per_prompt=1)
    captions = sorted((tmp_path / "out" / "data").glob("*.txt"))
    assert len(captions) == 15
    for path in captions:  # world 2's grammar with the trigger for the shape, one colour on one background
        text = path.read_text().strip()
        assert "sks star" in text and parse(text.replace("sks star", "star")).background == "white"
    assert Image.open(captions[0].with_suffix(".png")).size == (128, 128)
    row = exercise.table[0]
    assert {"identity", "fidelity", "identity_seen", "identity_off"} <= set(row)
    assert len(list((tmp_path / "out" / "cells" / "rank2-steps2").glob("*.png"))) == 15  # one per unseen test prompt
