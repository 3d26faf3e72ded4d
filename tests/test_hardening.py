"""Faults beyond bad arguments: a full disk, a kill mid-batch, image bombs and memory, unexpected errors,
listings with broken entries, seeds at the end of their range, and inputs brought to a size the request allows."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import hostile_files as hf
from sdlab.cli.errors import SdlabCommand, SdlabGroup
from sdlab.cli.main import app
from sdlab.requests import build_request

runner = CliRunner()


def tiny(sd1_dir) -> list[str]:
    return ["--model", str(sd1_dir), "--steps", "1", "-W", "32", "-H", "32"]


def test_a_full_disk_is_one_line_and_leaves_nothing(sd1_dir, tmp_path):
    """RLIMIT_FSIZE makes every write past 512 bytes fail with EFBIG, as a full disk would."""
    out = tmp_path / "out"
    out.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, hard))
    try:
        result = runner.invoke(app, ["generate", "a red circle", *tiny(sd1_dir), "-o", str(out)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: -o: could not write") and "file too large" in lines[0]
    assert list(out.iterdir()) == []  # no half-written PNG, no temporary file


def test_a_kill_mid_batch_leaves_only_whole_images_and_litter_is_swept(sd1_dir, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sdlab.cli.main", "generate", "a red circle", "--model", str(sd1_dir), "--steps", "3",
               "-W", "32", "-H", "32", "-b", "1", "--batch-count", "200", "-o", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*.png"))) < 3:
        time.sleep(0.05)
    process.kill()
    process.wait()
    images = list(out.glob("*.png"))
    assert 3 <= len(images) < 200
    for path in images:
        with Image.open(path) as image:
            image.load()  # every image present is whole
    # What a process killed mid-write leaves: a hidden temporary named after its (now dead) process id.
    stale = out / f".99999-1.png.sdlab-{process.pid}-0123abcd.tmp"
    stale.write_bytes(b"half a png")
    again = runner.invoke(app, ["generate", "a red circle", *tiny(sd1_dir), "-o", str(out)])
    assert again.exit_code == 0, again.output
    assert not stale.exists() and not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_numbering_ignores_names_that_only_look_numbered(sd1_dir, tmp_path):
    (tmp_path / "²-1.png").write_bytes(b"x")  # str.isdigit() says yes to "²", int() says no
    (tmp_path / "00007-3.png").write_bytes(b"x")
    result = runner.invoke(app, ["generate", "a", *tiny(sd1_dir), "--seed", "5", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("00008-5.png")


def test_outputs_follow_the_umask(sd1_dir, tmp_path):
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["generate", "a", *tiny(sd1_dir), "-o", str(tmp_path / "x.png")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o644


def test_a_bomb_is_refused_before_decoding(tmp_path):
    """Peak memory of the whole command stays far below what decoding the claimed pixels would take."""
    bomb = hf.bomb_png(tmp_path / "bomb.png")
    liar = hf.lying_png(tmp_path / "liar.png", 60_000, 60_000)  # 3.6 G pixels claimed, 70 bytes on disk
    for image in (bomb, liar):
        process = subprocess.Popen([sys.executable, "-m", "sdlab.cli.main", "img2img", "x", "--image", str(image),
                                    "-o", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
        _, _, usage = os.wait4(process.pid, 0)
        stderr = process.stderr.read().decode()
        assert os.waitstatus_to_exitcode(_) == 2 and "too large to open safely" in stderr, stderr
        peak_mb = usage.ru_maxrss / 1024
        assert peak_mb < 1500, f"{image.name}: peak {peak_mb:.0f} MB"  # the bomb alone would need 432 MB as RGB
    assert not (tmp_path / "out").exists()


def test_a_large_photo_is_worked_at_the_models_size_and_says_so(engine, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (3000, 2000), "red").save(photo)
    result = engine.generate(build_request(task="img2img", image=str(photo), prompt="a red square on a white background",
                                           steps=2, strength=0.5, seed=1))
    native = 64  # the embedded model's size; inputs are worked at up to twice its side
    width, height = result.images[0].image.size
    assert (width, height) == (152, 104) and width * height <= (2 * native) ** 2
    assert result.warnings == ["image: resized from 3000x2000 to 152x104 (scaled to at most 128x128 pixels, aspect "
                               "kept, as no width or height was given)"]


@pytest.mark.parametrize("mode, corner", [("resize", (255, 0, 0)), ("crop", (255, 0, 0)), ("fill", None)])
def test_resize_modes(mode, corner):
    from sdlab.engine.sizing import fit
    from sdlab.requests.generation import ResizeMode

    image = Image.new("RGB", (64, 32), "red")
    image.paste((0, 0, 255), (0, 0, 16, 32))  # a blue left quarter
    out = fit(image, (32, 32), ResizeMode(mode))
    assert out.size == (32, 32)
    left = out.getpixel((0, 16))
    if mode == "resize":
        assert left[2] > 200  # squeezed: the blue quarter is still at the left edge
    elif mode == "crop":
        assert out.getpixel((0, 16)) == corner  # the blue quarter is cropped away
    else:
        assert out.getpixel((16, 16))[0] > 200 and out.getpixel((2, 16))[2] > 150  # fitted inside, edges filled


def test_working_size_keeps_small_inputs_and_derives_a_missing_side():
    from sdlab.engine.sizing import working_size

    assert working_size((45, 45), 64) == (40, 40)
    assert working_size((128, 128), 64) == (128, 128)
    assert working_size((3000, 2000), 512, width=768) == (768, 512)
    assert working_size((3000, 2000), 512, height=512) == (768, 512)


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback():
    demo = typer.Typer(cls=SdlabGroup)

    @demo.command(cls=SdlabCommand)
    def broken() -> None:
        raise ZeroDivisionError("the bug")

    @demo.command(cls=SdlabCommand)
    def other() -> None:
        pass

    result = runner.invoke(demo, ["broken"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: unexpected ZeroDivisionError: the bug (a bug in sdlab; run with --debug for the traceback)"]
    debug = runner.invoke(demo, ["broken", "--debug"])
    assert debug.exit_code == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_parse_errors_are_one_line(sd1_dir):
    result = runner.invoke(app, ["generate", "x", "--steps", "many"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "'--steps'" in result.stderr


def test_listings_show_broken_entries_and_go_on(tmp_path, monkeypatch, sd1_dir):
    loras = tmp_path / "loras"
    loras.mkdir()
    (loras / "good.safetensors").write_bytes(hf.valid_lora_bytes())
    for name in ("truncated", "entry-not-object", "no-offsets", "unknown-dtype"):
        (loras / f"{name}.safetensors").write_bytes(hf.CORRUPT_SAFETENSORS[name]())
    result = runner.invoke(app, ["loras", str(loras), "--json"])
    assert result.exit_code == 0, result.output
    import json

    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["good"]["format"] == "kohya" and rows["good"]["rank"] == 2
    assert all(rows[n]["format"].startswith("unreadable: ") for n in ("truncated", "entry-not-object", "no-offsets"))
    models = tmp_path / "models"
    models.mkdir()
    (models / "broken.safetensors").write_bytes(hf.CORRUPT_SAFETENSORS["overlapping"]())
    (models / "list-index").mkdir()
    (models / "list-index" / "model_index.json").write_text("[]")
    (models / "tiny").symlink_to(sd1_dir)
    monkeypatch.setenv("SDLAB_MODELS", str(models))
    listed = runner.invoke(app, ["models", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["tiny"]["family"] == "sd1" and rows["broken.safetensors"]["kind"] == "unreadable"
    assert "overlaps" in rows["broken.safetensors"]["problem"] and "JSON list" in rows["list-index"]["problem"]


def test_seeds_wrap_at_the_end_of_their_range_and_read_back(sd1_dir, tmp_path):
    result = runner.invoke(app, ["generate", "a", *tiny(sd1_dir), "--seed", "4294967295", "-b", "2", "-o", str(tmp_path),
                                 "--json"])
    assert result.exit_code == 0, result.output
    import json

    images = json.loads(result.stdout)["images"]
    assert [i["seed"] for i in images] == [4294967295, 0]
    again = runner.invoke(app, ["generate", "--from", images[1]["path"], "--model", str(sd1_dir), "-o",
                                str(tmp_path / "again.png")])
    direct = runner.invoke(app, ["generate", "a", *tiny(sd1_dir), "--seed", "0", "-o", str(tmp_path / "direct.png")])
    assert again.exit_code == 0 and direct.exit_code == 0, again.output + direct.output
    assert list(Image.open(tmp_path / "direct.png").getdata()) == list(Image.open(tmp_path / "again.png").getdata())


def test_from_takes_only_what_applies_to_the_task(sd1_dir, tmp_path):
    source = tmp_path / "in.png"
    Image.new("RGB", (32, 32), "red").save(source)
    made = runner.invoke(app, ["img2img", "a", *tiny(sd1_dir), "--image", str(source), "--strength", "0.6", "--steps", "2",
                               "-o", str(tmp_path / "i.png")])
    assert made.exit_code == 0, made.output
    again = runner.invoke(app, ["generate", "--from", str(tmp_path / "i.png"), "--model", str(sd1_dir), "-o",
                                str(tmp_path / "t.png"), "--json"])
    assert again.exit_code == 0, again.output  # the img2img strength is not carried into text-to-image
    assert "Denoising strength" not in again.stdout


def test_sweep_overwrite_keeps_finished_cells_when_the_new_sweep_is_refused(sd1_dir, tmp_path):
    args = ["sweep", "a red circle", "--model", str(sd1_dir), "--steps", "1", "-W", "32", "-H", "32", "-o", str(tmp_path)]
    assert runner.invoke(app, [*args, "-x", "cfg=1,2"]).exit_code == 0
    cells = sorted(p.name for p in (tmp_path / "cells").iterdir())
    refused = runner.invoke(app, [*args, "-x", "cfg=1,2", "-y", "cfg=3,4", "--overwrite"])
    assert refused.exit_code == 2
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == cells


def test_a_damaged_sweep_cell_names_the_file(sd1_dir, tmp_path):
    args = ["sweep", "a red circle", "--model", str(sd1_dir), "--steps", "1", "-W", "32", "-H", "32", "-o", str(tmp_path),
            "-x", "cfg=1,2"]
    assert runner.invoke(app, args).exit_code == 0
    record = tmp_path / "cells" / "y00-x01" / "cell.json"
    record.write_text("{ not json")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "cell.json is damaged" in result.stderr and "--overwrite" in result.stderr


def test_tag_weights_are_read_exactly():
    from sdlab.requests.lora_tags import split_tags

    assert split_tags("a <lora:x:1e-9> <lora:y: -0.5 >")[1][0].weight == 1e-9
    assert split_tags("a <lora:x:1e-9> <lora:y: -0.5 >")[1][1].weight == -0.5


def test_a_resumed_base_run_refuses_a_foreign_configuration(tmp_path):
    from sdlab.errors import UsageError
    from sdlab.training.base.config import TINY as TINY_BASE
    from sdlab.training.base.trainer import train_base

    run = tmp_path / "run"
    train_base(run, TINY_BASE, log=lambda _: None, max_steps=1)
    import dataclasses

    with pytest.raises(UsageError, match="another configuration"):
        train_base(run, dataclasses.replace(TINY_BASE, seed=5), log=lambda _: None, max_steps=1)
