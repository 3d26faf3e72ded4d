"""Sweeps on the embedded model: cells, labels, metrics, plots, resume, Prompt S/R, bad input."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from sdlab.errors import UsageError
from sdlab.eval.axes import apply, parse_axis
from sdlab.eval.sweep import run_sweep
from sdlab.world.render import Scene, render

PROMPT = "a red circle on a white background"


def test_axis_syntax():
    assert parse_axis("cfg=1,3,7.5").values == (1.0, 3.0, 7.5)
    assert parse_axis("guidance=1-9 (+4)").values == (1.0, 5.0, 9.0)
    assert parse_axis("steps=10-20 [3]").values == (10, 15, 20)
    assert parse_axis("sampler=Euler a,DPM++ 2M").values == ("Euler a", "DPM++ 2M")
    assert apply({"prompt": PROMPT}, parse_axis("prompt=red,blue"), "blue")["prompt"] == "a blue circle on a white background"
    assert apply({}, parse_axis("size=64,32x48"), "32x48") == {"width": 32, "height": 48}


@pytest.mark.parametrize("spec, message", [
    ("foo=1", "valid: cfg, steps"), ("cfg", "not NAME=VALUES"), ("cfg=", "empty value"), ("cfg=1,,2", "empty value"),
    ("steps=a,b", "not int values"), ("cfg=5-1 (+1)", "never reaches"), ("prompt=red", "at least one replacement"),
])
def test_bad_axes(spec, message):
    with pytest.raises(UsageError, match=message):
        parse_axis(spec)


def test_grid_cells_labels_metrics_and_plots(engine, tmp_path):
    x, y = parse_axis("cfg=1,5,15"), parse_axis("prompt=red,blue")
    sweep = run_sweep(engine, {"prompt": PROMPT, "seed": 3, "batch_size": 2}, x, y, tmp_path)
    assert [(r["cfg"], r["prompt"]) for r in sweep.rows] == [(c, p) for p in ("red", "blue") for c in (1.0, 5.0, 15.0)]
    assert all({"clipped", "diversity", "adherence"} <= set(r) for r in sweep.rows)
    rows = json.loads((tmp_path / "results.json").read_text())
    assert len(rows) == 6 and (tmp_path / "results.csv").read_text().count("\n") == 7
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (110 + 3 * 128 + 10, 48 + 2 * 128 + 10)
    for metric in ("clipped", "diversity", "adherence"):
        assert Image.open(tmp_path / f"plot-{metric}.png").format == "PNG"
    cells = sorted((tmp_path / "cells").iterdir())
    assert len(cells) == 6
    fields = [json.loads((c / "cell.json").read_text())["fields"] for c in cells]
    assert {f["seed"] for f in fields} == {3}  # cells differ only by the swept values
    assert fields[-1]["prompt"] == "a blue circle on a white background" and fields[-1]["cfg"] == 15.0
    image = Image.open(next(cells[-1].glob("*.png")))
    assert "CFG scale: 15" in image.info["parameters"]


def test_resume_keeps_finished_cells(engine, tmp_path):
    x = parse_axis("steps=4,6")
    base = {"prompt": PROMPT, "batch_size": 1}  # no seed: one is picked and kept for the resumed run
    first = run_sweep(engine, base, x, None, tmp_path)
    kept = next((tmp_path / "cells" / "y00-x00").glob("*.png"))
    stamp = kept.stat().st_mtime_ns
    (tmp_path / "cells" / "y00-x01" / "cell.json").unlink()  # as if interrupted during the second cell
    again = run_sweep(engine, base, x, None, tmp_path)
    assert again.reused == 1 and kept.stat().st_mtime_ns == stamp
    assert [r["steps"] for r in again.rows] == [4, 6] and first.rows[0] == again.rows[0]


def test_strength_sweep_faithfulness_falls(engine, tmp_path):
    source = tmp_path / "in.png"
    render(Scene("square", "blue", "pink", 32, 32, 14)).save(source)
    base = {"prompt": "a blue square on a pink background", "task": "img2img", "image": str(source), "seed": 5,
            "batch_size": 2}
    sweep = run_sweep(engine, base, parse_axis("strength=0.2,0.6,1.0"), None, tmp_path / "sweep")
    psnrs = [r["psnr"] for r in sweep.rows]
    ssims = [r["ssim"] for r in sweep.rows]
    assert psnrs[0] > psnrs[1] > psnrs[2], psnrs
    assert ssims[0] > ssims[2], ssims


def test_limits_and_invalid_cells_fail_before_anything_runs(engine, tmp_path):
    with pytest.raises(UsageError, match="over the limit of 4") as info:
        run_sweep(engine, {"prompt": PROMPT}, parse_axis("cfg=1,2,3"), parse_axis("seed=1,2"), tmp_path, max_cells=4)
    assert info.value.fix.text.format(option="--max-cells") == "pass --max-cells 6 to run it"
    with pytest.raises(UsageError, match="unknown sampler 'Nope'"):
        run_sweep(engine, {"prompt": PROMPT}, parse_axis("sampler=Euler,Nope"), None, tmp_path)
    with pytest.raises(UsageError, match="no --lora"):
        run_sweep(engine, {"prompt": PROMPT}, parse_axis("lora-weight=0,1"), None, tmp_path)
    assert not (tmp_path / "cells").exists()


def test_sweep_cli(tmp_path):
    from typer.testing import CliRunner

    from sdlab.cli.main import app

    result = CliRunner().invoke(app, ["sweep", PROMPT, "-x", "cfg=3,5", "--seed", "2", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "adherence" in result.output and (tmp_path / "grid.png").is_file()
    bad = CliRunner().invoke(app, ["sweep", PROMPT, "-x", "colour=1", "-o", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "valid: cfg, steps" in bad.output and "Traceback" not in bad.output


def test_sweep_cli_notes_a_skipped_clip_score(tmp_path):
    from typer.testing import CliRunner

    from sdlab.cli.main import app

    result = CliRunner().invoke(app, ["sweep", PROMPT, "-x", "steps=2,3", "--seed", "1", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "CLIP score skipped; give --clip-model" in result.output and "clip_score" not in result.output


def test_judged_metrics_follow_the_models_world_not_its_name(engine, tmp_path, sd1_dir):
    """sdlab-shapes named explicitly is still judged; a model of another world is not."""
    named = run_sweep(engine, {"prompt": PROMPT, "model": "sdlab-shapes", "steps": 4, "batch_size": 1},
                      parse_axis("cfg=5"), None, tmp_path / "named")
    assert "adherence" in named.rows[0]
    other = run_sweep(engine, {"prompt": PROMPT, "model": str(sd1_dir), "steps": 1, "width": 32, "height": 32},
                      parse_axis("cfg=5"), None, tmp_path / "other")
    assert "adherence" not in other.rows[0]
