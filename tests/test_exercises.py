"""The guidance and strength exercises on the embedded model: their tables say what the seeds expect."""

from __future__ import annotations

from typer.testing import CliRunner

from sdlab.cli.main import app
from sdlab.eval.exercises import guidance_exercise, strength_exercise


def test_guidance_exercise_finds_artefacts_at_high_guidance(engine, tmp_path):
    exercise = guidance_exercise(engine, tmp_path, images=4)
    by_cfg = {row["cfg"]: row for row in exercise.table}
    assert list(by_cfg) == [1.0, 3.0, 5.0, 7.5, 10.0, 15.0]
    assert by_cfg[15.0]["clipped"] > by_cfg[5.0]["clipped"]  # the artefact measure rises with guidance
    assert by_cfg[15.0]["adherence"] < by_cfg[5.0]["adherence"]
    report = exercise.report.read_text()
    assert "![grid](grid.png)" in report and "| cfg | clipped |" in report and "at guidance 5" in report
    assert len(exercise.sweep.rows) == 6 * 4  # cfg x four prompt variants


def test_strength_exercise_psnr_falls_and_names_the_strength(engine, tmp_path):
    exercise = strength_exercise(engine, tmp_path, images=2)
    psnrs = [row["psnr"] for row in exercise.table]
    assert psnrs == sorted(psnrs, reverse=True), psnrs  # faithfulness to the input falls as strength rises
    assert exercise.table[0]["layout_iou"] > 0.8 > 0.5 > exercise.table[-1]["layout_iou"]
    assert "holds up to strength" in exercise.answer and (tmp_path / "report.md").is_file()


def test_exercise_cli_bad_input(tmp_path):
    result = CliRunner().invoke(app, ["exercise", "guidance", "--images", "0", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "images: must be between 1 and 64" in result.output
    result = CliRunner().invoke(app, ["exercise", "strength", "--model", str(tmp_path), "-o", str(tmp_path)])
    assert result.exit_code == 2 and "give an input image" in result.output
