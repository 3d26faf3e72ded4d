"""The CLI end to end on a tiny model: outputs, JSON, --from, info, and every bad input exiting 2."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sdlab.cli.main import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def tiny_args(sd1_dir):
    return ["--model", sd1_dir, "--steps", "2", "-W", "32", "-H", "32"]


def test_generate_writes_numbered_files_and_json(tiny_args, tmp_path):
    result = invoke("generate", "a red circle", *tiny_args, "--seed", "5", "-b", "2", "-o", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    paths = [entry["path"] for entry in report["images"]]
    assert [p.rsplit("/", 1)[1] for p in paths] == ["00000-5.png", "00001-6.png"]
    assert report["images"][1]["parameters"]["Seed"] == 6
    again = invoke("generate", "a red circle", *tiny_args, "--seed", "5", "-o", tmp_path)
    assert again.stdout.strip().endswith("00002-5.png")  # numbering continues, nothing overwritten


def test_explicit_file_is_not_overwritten_without_flag(tiny_args, tmp_path):
    target = tmp_path / "one.png"
    assert invoke("generate", "a", *tiny_args, "--seed", "1", "-o", target).exit_code == 0
    before = target.read_bytes()
    refused = invoke("generate", "b", *tiny_args, "--seed", "2", "-o", target)
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr
    assert target.read_bytes() == before
    assert invoke("generate", "b", *tiny_args, "--seed", "2", "-o", target, "--overwrite").exit_code == 0
    assert target.read_bytes() != before


def test_from_image_reproduces_it(tiny_args, sd1_dir, tmp_path):
    first = tmp_path / "first.png"
    assert invoke("generate", "a (red:1.2) circle, big", *tiny_args, "--seed", "9", "--cfg", "3.5",
                  "--sampler", "Euler a", "-o", first).exit_code == 0
    shown = invoke("info", first)
    assert shown.exit_code == 0 and "Sampler: Euler a" in shown.stdout and "CFG scale: 3.5" in shown.stdout
    second = tmp_path / "second.png"
    rerun = invoke("generate", "--from", first, "--model", sd1_dir, "-o", second)
    assert rerun.exit_code == 0, rerun.output
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))


def test_img2img_and_inpaint_commands(tiny_args, tmp_path):
    source = tmp_path / "in.png"
    Image.new("RGB", (40, 40), "red").save(source)
    mask = tmp_path / "mask.png"
    Image.new("L", (32, 32), 255).save(mask)
    out = invoke("img2img", "a blue square", "--image", source, "--strength", "0.5", *tiny_args, "-o", tmp_path / "i.png")
    assert out.exit_code == 0 and "resized from 40x40 to 32x32" in out.stderr
    out = invoke("inpaint", "a blue square", "--image", source, "--mask", mask, *tiny_args, "-o", tmp_path / "p.png")
    assert out.exit_code == 0, out.output
    assert Image.open(tmp_path / "p.png").size == (32, 32)


def test_samplers_and_models_commands(tmp_path, monkeypatch, sd1_dir):
    listed = invoke("samplers")
    assert listed.exit_code == 0 and "DPM++ 2M" in listed.stdout and "karras" in listed.stdout
    monkeypatch.setenv("SDLAB_MODELS", str(sd1_dir.parent))
    models = invoke("models", "--json")
    assert models.exit_code == 0
    assert any(row["name"] == sd1_dir.name and row["family"] == "sd1" for row in json.loads(models.stdout))


@pytest.mark.parametrize("args, argument", [
    (["generate", "x", "-W", "63"], "-W"),
    (["generate", "x", "--steps", "0"], "--steps"),
    (["generate", "x", "--sampler", "Euler b"], "--sampler"),
    (["generate", "x", "--model", "/no/such/model"], "--model"),
    (["generate", "x", "--seed", "-5"], "--seed"),
    (["generate", "x", "--cfg", "-1"], "--cfg"),
    (["generate", "x", "--dtype", "fp8"], "--dtype"),
    (["generate"], "prompt"),
    (["img2img", "x", "--image", "missing.png", "--strength", "0.5"], "--image"),
    (["img2img", "x", "--image", "README.md", "--strength", "1.5"], "--strength"),
])
def test_bad_input_exits_2_with_one_clear_line(args, argument, tmp_path, sd1_dir):
    if "--model" not in args and args != ["generate"]:
        args = args + ["--model", str(sd1_dir)]
    result = invoke(*args, "-o", tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {argument}:"), result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_unreadable_and_huge_images_are_refused(tmp_path, sd1_dir):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG not really")
    result = invoke("img2img", "x", "--image", garbage, "--model", sd1_dir, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "not a readable PNG, JPEG or WEBP" in result.stderr
    bomb = tmp_path / "bomb.png"
    Image.new("1", (14000, 14000)).save(bomb)  # 196 Mpx: over twice Pillow's limit, a few KB on disk
    result = invoke("img2img", "x", "--image", bomb, "--model", sd1_dir, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "too large to open safely" in result.stderr
    gif = tmp_path / "anim.png"
    Image.new("RGB", (8, 8)).save(gif, format="GIF")  # named .png, but the bytes say GIF
    result = invoke("img2img", "x", "--image", gif, "--model", sd1_dir, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "not a readable PNG" in result.stderr
    assert not (tmp_path / "o.png").exists()
