"""LoRA training mechanics on tiny random models: what learns, what is written, resume, processes, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from sdlab.cli.main import app
from sdlab.errors import UsageError
from sdlab.requests.lora_training import build_lora_request
from sdlab.training.checkpoint import load_state
from sdlab.training.lora.trainer import train_lora

COLOURS = ("red", "green", "blue", "white", "black", "yellow")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    for i, colour in enumerate(COLOURS):
        Image.new("RGB", (32 + 16 * (i % 2), 32), colour).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"a {colour} circle, photo")
    return folder


def request(data, sd1_dir, output, **options):
    fields = dict(data=str(data), model=str(sd1_dir), output=str(output), rank=4, steps=4, batch_size=2,
                  resolution=32, overwrite=True)
    return build_lora_request(**{**fields, **options})


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def assert_same(a: dict, b: dict, tol: float) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst <= tol, worst


def test_only_lora_learns_and_kohya_file_is_complete(data, sd1_dir, tmp_path):
    from diffusers import StableDiffusionPipeline

    out = tmp_path / "style.safetensors"
    result = train_lora(request(data, sd1_dir, out, train_text_encoder=True, instance_prompt="sks"))
    assert len(result.losses) == 4 and all(torch.isfinite(torch.tensor(result.losses)))
    weights = tensors(out)
    assert any(k.startswith("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.") for k in weights)
    assert any(k.startswith("lora_te_text_model_encoder_layers_0_self_attn_q_proj.") for k in weights)
    downs = [k for k in weights if k.endswith(".lora_down.weight")]
    assert downs and all(weights[k].shape[0] == 4 for k in downs)
    assert all(float(weights[k.replace("lora_down.weight", "alpha")]) == 4.0 for k in downs)
    ups = [k for k in weights if k.endswith(".lora_up.weight")]
    assert any(weights[k].abs().max() > 0 for k in ups)  # B starts at zero: nonzero means it learned
    with safe_open(str(out), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["ss_network_module"] == "networks.lora" and meta["ss_network_dim"] == "4"
    assert meta["ss_base_model_version"] == "sd_v1" and meta["ss_max_train_steps"] == "4"
    assert json.loads(meta["ss_tag_frequency"])[data.name]["photo"] == 6
    assert len(meta["sshs_model_hash"]) == 64
    # The frozen base is untouched: the checkpoint holds LoRA tensors only.
    groups, _ = load_state(out.with_name("style.training") / "checkpoint.safetensors")
    assert all(".lora_" in k for k in groups["unet"]) and all(".lora_" in k for k in groups["text_encoder"])
    pipe = StableDiffusionPipeline.from_pretrained(sd1_dir)
    pipe.load_lora_weights(str(out))  # plain diffusers reads the kohya file


def _unet_output(pipe, seed=0):
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn((1, 4, 16, 16), generator=generator)
    text = pipe.text_encoder(pipe.tokenizer(["a red circle"], padding="max_length", max_length=77,
                                            return_tensors="pt").input_ids)[0]
    with torch.no_grad():
        return pipe.unet(latents, torch.tensor([500]), text).sample


@pytest.mark.parametrize("alpha, targets", [(None, "transformer"), (8.0, "all")])
def test_kohya_and_diffusers_files_load_in_plain_diffusers_to_the_same_model(data, sd1_dir, tmp_path, alpha, targets):
    from diffusers import StableDiffusionPipeline

    from sdlab.engine.lora import unapplied_report

    outputs = []
    for fmt in ("kohya", "diffusers"):
        out = tmp_path / f"{fmt}.safetensors"
        train_lora(request(data, sd1_dir, out, output_format=fmt, alpha=alpha, unet_lr=1e-2, unet_targets=targets))
        pipe = StableDiffusionPipeline.from_pretrained(sd1_dir)
        base = _unet_output(pipe)
        pipe.load_lora_weights(str(out), adapter_name="trained")
        assert unapplied_report(pipe, out, "trained") is None  # every module, conv layers included, landed
        if targets == "all":
            assert hasattr(pipe.unet.down_blocks[0].resnets[0].conv1, "lora_A")
        outputs.append(_unet_output(pipe))
    assert (outputs[0] - base).abs().max() > 1e-4  # the LoRA does something
    assert (outputs[0] - outputs[1]).abs().max() < 1e-5  # alpha/rank survives both layouts


def test_merge_is_w_plus_up_down_times_alpha_over_rank(data, sd1_dir, tmp_path):
    from diffusers import StableDiffusionPipeline

    out = tmp_path / "merge.safetensors"
    train_lora(request(data, sd1_dir, out, alpha=2.0, unet_lr=1e-2))
    weights = tensors(out)
    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    pipe = StableDiffusionPipeline.from_pretrained(sd1_dir)
    layer = pipe.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    before = layer.weight.detach().clone()
    pipe.load_lora_weights(str(out))
    pipe.fuse_lora()
    expected = before + weights[f"{name}.lora_up.weight"] @ weights[f"{name}.lora_down.weight"] * (2.0 / 4)
    assert torch.allclose(layer.base_layer.weight if hasattr(layer, "base_layer") else layer.weight, expected, atol=1e-6)


def test_caches_and_gradient_checkpointing_do_not_change_the_result(data, sd1_dir, tmp_path):
    plain = tmp_path / "plain.safetensors"
    train_lora(request(data, sd1_dir, plain, cache_latents=False, cache_text_embeddings=False))
    fast = tmp_path / "fast.safetensors"
    train_lora(request(data, sd1_dir, fast, gradient_checkpointing=True))
    assert_same(tensors(plain), tensors(fast), 1e-5)


def test_validation_loss_samples_and_log(data, sd1_dir, tmp_path):
    out = tmp_path / "v.safetensors"
    result = train_lora(request(data, sd1_dir, out, steps=4, validation_split=0.34, validate_every=2,
                                sample_every=2, sample_prompts=("a red circle",)))
    assert [step for step, _ in result.validation] == [0, 2, 4]
    work = out.with_name("v.training")
    assert sorted(p.name for p in (work / "samples").iterdir()) == ["step-000002-00.png", "step-000004-00.png"]
    lines = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "loss" in line] == [1, 2, 3, 4]
    assert [line["step"] for line in lines if "val_loss" in line] == [2, 4]


def _cli(*args, env_threads="1") -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": env_threads, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "sdlab.cli.main", "train-lora", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_resume_after_kill_9_ends_with_the_same_weights(data, sd1_dir, tmp_path):
    common = [str(data), "-m", str(sd1_dir), "--rank", "4", "--batch-size", "2", "--resolution", "32",
              "--steps", "40", "--checkpoint-every", "5", "--lr-schedule", "cosine", "--unet-lr", "1e-3"]
    whole = tmp_path / "whole.safetensors"
    assert _cli(*common, "-o", str(whole)).wait() == 0
    broken = tmp_path / "broken.safetensors"
    ckpt = broken.with_name("broken.training") / "checkpoint.safetensors"
    proc = _cli(*common, "-o", str(broken))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and load_state(ckpt)[1]["step"] >= 10:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = load_state(ckpt)[1]["step"]
    assert 10 <= step < 40 and not broken.exists()
    resumed = _cli(*common, "-o", str(broken), "--resume")
    _, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert f"resuming from {ckpt} at step {step}" in err
    assert_same(tensors(whole), tensors(broken), 1e-6)


def test_two_processes_match_one_with_the_same_effective_batch(data, sd1_dir, tmp_path):
    common = [str(data), "-m", str(sd1_dir), "--rank", "4", "--resolution", "32", "--steps", "3", "--unet-lr", "1e-3"]
    one, two, launched = (tmp_path / f"{name}.safetensors" for name in ("one", "two", "accelerate"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    runs = [
        _cli(*common, "--batch-size", "4", "-o", str(one)),
        _cli(*common, "--batch-size", "2", "--num-processes", "2", "-o", str(two)),
        subprocess.Popen([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "-m", "sdlab.cli.main", "train-lora", *common, "--batch-size", "2", "-o", str(launched)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    for run in runs:
        out, err = run.communicate()
        assert run.returncode == 0, err
    assert out.count("wrote ") == 1  # one report, from the main process
    for path in (two, launched):
        with safe_open(str(path), framework="pt") as handle:
            assert handle.metadata()["ss_total_batch_size"] == "4"
        assert_same(tensors(one), tensors(path), 1e-5)


def test_resume_refuses_another_configuration(data, sd1_dir, tmp_path):
    out = tmp_path / "r.safetensors"
    train_lora(request(data, sd1_dir, out, steps=2))
    with pytest.raises(UsageError, match=r"other settings \(rank\)"):
        train_lora(request(data, sd1_dir, out, steps=2, rank=8, resume=True))


def test_sdxl_lora_with_both_text_encoders(data, sdxl_dir, tmp_path, engine):
    from diffusers import StableDiffusionXLPipeline

    from sdlab.requests import build_request

    out = tmp_path / "xl.safetensors"
    train_lora(build_lora_request(data=str(data), model=str(sdxl_dir), output=str(out), rank=2, steps=2,
                                  resolution=32, train_text_encoder=True, unet_lr=1e-2))
    keys = tensors(out).keys()
    assert any(k.startswith("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.") for k in keys)
    assert any(k.startswith("lora_te1_text_model_") for k in keys) and any(k.startswith("lora_te2_text_model_") for k in keys)
    with safe_open(str(out), framework="pt") as handle:
        assert handle.metadata()["ss_base_model_version"] == "sdxl_base_v1-0"
    StableDiffusionXLPipeline.from_pretrained(sdxl_dir).load_lora_weights(str(out))
    result = engine.generate(build_request(prompt="a red circle", model=str(sdxl_dir), width=32, height=32, steps=2,
                                           seed=1, loras=[{"path": str(out), "weight": 1.0}]))
    assert not [w for w in result.warnings if "could not be applied" in w]


@pytest.mark.parametrize("args, message", [
    (["--rank", "0"], "rank: must be between 1 and 1024"),
    (["--steps", "0"], "steps:"),
    (["--lr-schedule", "linear"], "lr-schedule:"),
    (["--validate-every", "5"], "validate-every: needs --validation-data or --validation-split"),
    (["--train-text-encoder", "--cache-text-embeddings"], "cache-text-embeddings: cannot cache"),
    (["--optimizer", "sgd"], "optimizer: unknown optimizer"),
])
def test_bad_options_exit_2_with_one_line(data, sd1_dir, tmp_path, args, message):
    result = CliRunner().invoke(app, ["train-lora", str(data), "-m", str(sd1_dir), "-o", str(tmp_path / "x.safetensors"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bad_data_and_models(data, sd1_dir, sd1_inpaint_dir, tmp_path):
    uncaptioned = tmp_path / "uncaptioned"
    uncaptioned.mkdir()
    Image.new("RGB", (32, 32), "red").save(uncaptioned / "a.png")
    (uncaptioned / "broken.png").write_bytes(b"not an image")
    with pytest.raises(UsageError, match="no caption for a.png"):
        train_lora(request(uncaptioned, sd1_dir, tmp_path / "u.safetensors"))
    with pytest.raises(UsageError, match="inpainting model"):
        train_lora(request(data, sd1_inpaint_dir, tmp_path / "i.safetensors"))
    out = tmp_path / "exists.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="exists") as info:
        train_lora(request(data, sd1_dir, out, overwrite=False))
    assert info.value.fix.option == "overwrite" and out.read_bytes() == b"keep me"
    with pytest.raises(UsageError, match="no checkpoint to resume"):
        train_lora(request(data, sd1_dir, tmp_path / "new.safetensors", resume=True))


def test_cli_trains_and_reports(data, sd1_dir, tmp_path):
    out = tmp_path / "cli.safetensors"
    args = ["train-lora", str(data), "-m", str(sd1_dir), "-o", str(out), "--rank", "2", "--steps", "2",
            "--resolution", "32", "--format", "diffusers"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (2 steps" in result.output
    assert any(k.startswith("unet.") and ".lora_A." in k for k in tensors(out))
    again = CliRunner().invoke(app, args)  # the output exists and --overwrite was not given
    assert again.exit_code == 2 and "exists; pass --overwrite" in again.output  # the CLI offers the fix


def test_a_constant_schedule_run_extends_with_resume_to_the_same_weights(data, sd1_dir, tmp_path):
    direct = tmp_path / "direct.safetensors"
    train_lora(request(data, sd1_dir, direct, steps=4, unet_lr=1e-3))
    extended = tmp_path / "extended.safetensors"
    train_lora(request(data, sd1_dir, extended, steps=2, unet_lr=1e-3))
    result = train_lora(request(data, sd1_dir, extended, steps=4, unet_lr=1e-3, resume=True))
    assert len(result.losses) == 2  # only steps 3 and 4 ran
    assert_same(tensors(direct), tensors(extended), 1e-6)


def test_8bit_adam_without_bitsandbytes_is_a_clear_error(data, sd1_dir, tmp_path):
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="adamw8bit needs bitsandbytes"):
            train_lora(request(data, sd1_dir, tmp_path / "b.safetensors", optimizer="adamw8bit"))
    else:
        pytest.skip("bitsandbytes is installed here")


def test_prior_preservation_generates_class_images_once_and_weight_zero_changes_nothing(data, sd1_dir, tmp_path):
    plain = tmp_path / "plain.safetensors"
    train_lora(request(data, sd1_dir, plain, unet_lr=1e-2))
    muted = tmp_path / "muted.safetensors"
    train_lora(request(data, sd1_dir, muted, unet_lr=1e-2, class_prompt="a shape", class_images=3, prior_loss_weight=0.0))
    assert_same(tensors(plain), tensors(muted), 0.0)  # a class loss weighted 0 leaves the weights exactly as they were
    cached = sorted((tmp_path / "muted.training" / "class-images").glob("*/*.png"))
    assert len(cached) == 3 and all(p.with_suffix(".txt").read_text() == "a shape" for p in cached)
    stamps = [p.stat().st_mtime_ns for p in cached]
    weighted = tmp_path / "muted.safetensors"
    result = train_lora(request(data, sd1_dir, weighted, unet_lr=1e-2, class_prompt="a shape", class_images=3,
                                overwrite=True))
    assert [p.stat().st_mtime_ns for p in cached] == stamps  # generated once, then read from the cache
    changed = tensors(weighted)
    assert max(float((changed[k] - tensors(plain)[k]).abs().max()) for k in changed if k.endswith("weight")) > 0
    from safetensors import safe_open

    with safe_open(str(result.output), "pt") as handle:
        assert handle.metadata()["ss_num_reg_images"] == "3"


def test_reg_data_is_used_as_given_and_bad_prior_options_are_refused(data, sd1_dir, tmp_path):
    from sdlab.errors import UsageError

    out = tmp_path / "reg.safetensors"
    train_lora(request(data, sd1_dir, out, reg_data=str(data), class_prompt="a shape"))
    assert not (tmp_path / "reg.training" / "class-images").exists()  # given images: nothing generated
    for options, argument in ((dict(prior_loss_weight=0.5), "class-prompt"), (dict(class_images=5), "class-prompt"),
                              (dict(reg_data=str(data), class_images=5, class_prompt="x"), "class-images"),
                              (dict(class_prompt="x", prior_loss_weight=-1.0), "prior-loss-weight")):
        with pytest.raises(UsageError) as info:
            request(data, sd1_dir, tmp_path / "bad.safetensors", **options)
        assert info.value.argument == argument, options


def test_the_models_own_lora_defaults_fill_what_the_request_leaves_unset(data, sd1_dir, tmp_path):
    import json
    import shutil

    model = tmp_path / "model"
    shutil.copytree(sd1_dir, model)
    (model / "sdlab.json").write_text(json.dumps({"lora": {"rank": 2, "steps": 3, "output": "/elsewhere.safetensors"}}))
    fields = dict(data=str(data), model=str(model), resolution=32, batch_size=2, overwrite=True)
    result = train_lora(build_lora_request(**fields, output=str(tmp_path / "card.safetensors")))
    assert result.steps == 3 and result.output == tmp_path / "card.safetensors"  # paths are never the card's to set
    downs = [v for k, v in tensors(result.output).items() if k.endswith("lora_down.weight")]
    assert downs and all(v.shape[0] == 2 for v in downs)
    mine = train_lora(build_lora_request(**fields, output=str(tmp_path / "mine.safetensors"), rank=4, steps=1))
    assert mine.steps == 1 and all(v.shape[0] == 4 for k, v in tensors(mine.output).items() if k.endswith("lora_down.weight"))
