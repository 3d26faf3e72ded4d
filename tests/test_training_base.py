"""Base training on a tiny configuration: runs end to end, resumes to the same weights, rejects bad options."""

import dataclasses

import pytest
from diffusers import StableDiffusionPipeline
from safetensors.torch import load_file

from sdlab.errors import UsageError
from sdlab.training.base.config import TINY, BaseTrainConfig
from sdlab.training.base.trainer import train_base


def weights(folder):
    return {**{f"unet.{k}": v for k, v in load_file(folder / "unet" / "diffusion_pytorch_model.safetensors").items()},
            **{f"vae.{k}": v for k, v in load_file(folder / "vae" / "diffusion_pytorch_model.safetensors").items()}}


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    """Equal to float rounding: a fresh process may pick other CPU kernels, so bit-equality is not promised."""
    straight = train_base(tmp_path / "straight", TINY, log=lambda m: None)
    resumed_dir = tmp_path / "resumed"
    assert train_base(resumed_dir, TINY, log=lambda m: None, max_steps=3) is None  # stops inside the VAE stage
    assert train_base(resumed_dir, TINY, log=lambda m: None, max_steps=4) is None  # ... and inside the UNet stage
    resumed = train_base(resumed_dir, TINY, log=lambda m: None)
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    pipe = StableDiffusionPipeline.from_pretrained(resumed)  # plain diffusers, no sdlab code
    assert pipe.vae.config.scaling_factor != 1.0
    image = pipe("a red circle", num_inference_steps=2, height=64, width=64).images[0]
    assert image.size == (64, 64)


def test_resuming_with_other_options_is_refused(tmp_path):
    train_base(tmp_path, TINY, log=lambda m: None, max_steps=2)
    with pytest.raises(UsageError, match="another configuration"):
        train_base(tmp_path, dataclasses.replace(TINY, unet_lr=1e-3), log=lambda m: None)


@pytest.mark.parametrize("field, value", [("unet_lr", 0.0), ("vae_lr", -1.0), ("unet_steps", 0), ("caption_dropout", 1.5)])
def test_bad_hyper_parameters(field, value):
    with pytest.raises(UsageError, match=field.replace("_", "-")):
        BaseTrainConfig(**{field: value})


def test_train_base_command_smoke_and_bad_input(tmp_path):
    from typer.testing import CliRunner

    from sdlab.cli.main import app

    runner = CliRunner()
    done = runner.invoke(app, ["train-base", str(tmp_path / "run"), "--tiny"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "run" / "model" / "model_index.json").is_file()
    for args, argument in ((["train-base", ""], "output"), (["train-base", str(tmp_path / "x"), "--unet-lr", "0"], "--unet-lr"),
                           (["train-base", str(tmp_path / "y"), "--unet-steps", "0"], "--unet-steps")):
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2 and bad.stderr.startswith(f"error: {argument}:"), bad.output


def test_world_two_trains_a_miniature_of_sd15_that_plain_diffusers_loads(tmp_path):
    import json

    from sdlab.training.base.config import TINY2

    model = train_base(tmp_path / "run", TINY2, log=lambda m: None)
    pipe = StableDiffusionPipeline.from_pretrained(model)
    assert pipe.vae_scale_factor == 8 and pipe.vae.config.latent_channels == 4  # SD 1.5's VAE layout
    assert all("CrossAttn" in block for block in pipe.unet.config.down_block_types)  # attention at every resolution
    assert pipe.vae.config.scaling_factor != 1.0  # computed as SD's 0.18215 was
    card = json.loads((model / "sdlab.json").read_text())
    assert card["world"] == "shapes2" and card["defaults"]["size"] == 128
    image = pipe("a red circle at the top left and a blue square on a white background", num_inference_steps=2).images[0]
    assert image.size == (128, 128)  # the model's own default size


def test_the_recipe_option_picks_world_two(tmp_path):
    from typer.testing import CliRunner

    from sdlab.cli.main import app

    done = CliRunner().invoke(app, ["train-base", str(tmp_path / "run"), "--recipe", "shapes2", "--tiny"])
    assert done.exit_code == 0, done.output
    assert '"world": "shapes2"' in (tmp_path / "run" / "model" / "sdlab.json").read_text()
    bad = CliRunner().invoke(app, ["train-base", str(tmp_path / "x"), "--recipe", "shapes9"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --recipe:"), bad.output


def test_eval_adherence_scores_a_world_two_model_per_kind_of_prompt(tmp_path):
    """Mechanics on a seconds-trained model (its scores mean nothing): every kind and set is generated and judged."""
    import json

    from typer.testing import CliRunner

    from sdlab.cli.main import app
    from sdlab.training.base.config import TINY2

    model = train_base(tmp_path / "run", TINY2, log=lambda m: None)
    done = CliRunner().invoke(app, ["eval", "adherence", "--model", str(model), "--images", "1", "--steps", "1",
                                    "--json"])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    assert [(r["kind"], r["set"]) for r in rows] == [(k, s) for k in ("single", "position", "two", "three")
                                                    for s in ("trained", "held-out")]
    assert all(r["images"] >= 12 and 0 <= r["full"] <= r["count"] + 1e-9 for r in rows)


def test_a_run_can_be_exported_mid_way_to_judge_it(tmp_path):
    from typer.testing import CliRunner

    from sdlab.cli.main import app
    from sdlab.training.base.config import TINY2

    run = tmp_path / "run"
    assert train_base(run, TINY2, log=lambda m: None, max_steps=3) is None  # still in the VAE stage
    early = CliRunner().invoke(app, ["train-base", str(run), "--export", str(tmp_path / "early")])
    assert early.exit_code == 2 and early.stderr.startswith("error: --export:") and "no UNet step" in early.stderr
    assert train_base(run, TINY2, log=lambda m: None, max_steps=3) is None  # now 2 steps into the UNet stage
    before = (run / "checkpoint.safetensors").read_bytes()
    done = CliRunner().invoke(app, ["train-base", str(run), "--export", str(tmp_path / "at2")])
    assert done.exit_code == 0, done.output
    assert (run / "checkpoint.safetensors").read_bytes() == before  # the run is not touched
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "at2")
    assert pipe("a red circle on a white background", num_inference_steps=1).images[0].size == (128, 128)
    assert '"trained_steps": 2' in (tmp_path / "at2" / "sdlab.json").read_text()
    again = CliRunner().invoke(app, ["train-base", str(run), "--export", str(tmp_path / "at2")])
    assert again.exit_code == 2 and "already exists" in again.stderr
    none = CliRunner().invoke(app, ["train-base", str(tmp_path / "nothing"), "--export", str(tmp_path / "x")])
    assert none.exit_code == 2 and none.stderr.startswith("error: output:")
