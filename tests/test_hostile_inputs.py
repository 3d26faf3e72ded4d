"""Every command fed bad input as a hostile user would: one line naming the argument or file, exit 2 (usage) or
1 (a failed run), no traceback, no pre-existing file changed, nothing half-written, no pickle ever executed.

The catalogue runs through the CLI in-process against one shared workspace of booby-trapped files; after every
case the workspace must be exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from safetensors.torch import save
from typer.testing import CliRunner

import hostile_files as hf
from sdlab.cli.main import app

runner = CliRunner()
TINY = ["--model", "{sd1}", "--steps", "1", "-W", "32", "-H", "32"]


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    token: str  # what the one error line must name: the option as typed, or the file
    code: int = 2


def case(name: str, *args: str, token: str, code: int = 2) -> Case:
    return Case(name, args, token, code)


def gen(name: str, *args: str, token: str, code: int = 2) -> Case:
    """`generate` on the tiny model; the case's own options come last, so they win."""
    return case(name, "generate", *TINY, "-o", "{ws}/out", *args, token=token, code=code)


def from_image(name: str, image: str, token: str = "--from") -> Case:
    return case(name, "generate", "--from", image, "--model", "{sd1}", "-o", "{ws}/out", token=token)


def img(name: str, *args: str, token: str, command: str = "img2img") -> Case:
    return case(name, command, *TINY, "-o", "{ws}/out", "x", *args, token=token)


CATALOGUE = [
    # numbers out of range or not numbers
    gen("width-not-multiple-of-8", "x", "-W", "63", token="-W"),
    gen("height-zero", "x", "-H", "0", token="-H"),
    gen("width-too-large", "x", "-W", "9000", token="-W"),
    gen("steps-zero", "x", "--steps", "0", token="--steps"),
    gen("steps-over-1000", "x", "--steps", "1001", token="--steps"),
    gen("steps-not-a-number", "x", "--steps", "abc", token="--steps"),
    gen("cfg-negative", "x", "--cfg", "-1", token="--cfg"),
    gen("cfg-nan", "x", "--cfg", "nan", token="--cfg"),
    gen("cfg-inf", "x", "--cfg", "inf", token="--cfg"),
    gen("seed-below-minus-one", "x", "--seed", "-5", token="--seed"),
    gen("seed-2-to-the-32", "x", "--seed", "4294967296", token="--seed"),
    gen("seed-huge", "x", "--seed", "99999999999999999999999", token="--seed"),
    gen("batch-size-zero", "x", "-b", "0", token="-b"),
    gen("batch-size-257", "x", "-b", "257", token="-b"),
    gen("batch-count-zero", "x", "--batch-count", "0", token="--batch-count"),
    gen("unknown-option", "x", "--bogus", token="--bogus"),
    # samplers and schedules
    gen("unknown-sampler", "x", "--sampler", "Euler b", token="--sampler"),
    gen("sampler-schedule-conflict", "x", "--sampler", "DPM++ 2M Karras", "--schedule", "exponential", token="--schedule"),
    gen("unknown-schedule", "x", "--schedule", "bogus", token="--schedule"),
    gen("schedule-the-sampler-lacks", "x", "--sampler", "DDIM", "--schedule", "karras", token="--schedule"),
    gen("lcm-too-many-steps", "x", "--sampler", "LCM", "--steps", "100", token="--steps"),
    gen("dpm-1000-steps-would-be-nan", "x", "--sampler", "DPM++ 2M", "--steps", "1000", token="--steps"),
    # devices
    gen("dtype-unknown", "x", "--dtype", "fp8", token="--dtype"),
    gen("dtype-fp16-on-cpu", "x", "--dtype", "fp16", token="--dtype"),
    gen("device-cuda-absent", "x", "--device", "cuda", token="--device"),
    gen("device-malformed", "x", "--device", "cuda:abc", token="--device"),
    gen("device-unknown", "x", "--device", "tpu", token="--device"),
    gen("cpu-offload-on-cpu", "x", "--cpu-offload", token="--cpu-offload"),
    gen("safety-checker-absent", "x", "--safety-checker", token="--safety-checker"),
    case("decode-cannot-fit", "generate", "x", "-W", "8192", "-H", "8192", "-b", "256", "-o", "{ws}/out",
         token="VAE tiling", code=1),
    # models
    case("model-missing", "generate", "x", "--model", "/no/such/model", "-o", "{ws}/out", token="--model"),
    case("model-missing-relative", "generate", "x", "--model", "models/missing", "-o", "{ws}/out",
         token="no such file or folder"),
    case("model-hub-offline", "generate", "x", "--model", "someone/model", "-o", "{ws}/out", token="offline"),
    case("model-text-file", "generate", "x", "--model", "{ws}/text.txt", "-o", "{ws}/out", token="--model"),
    case("model-plain-folder", "generate", "x", "--model", "{ws}/folder", "-o", "{ws}/out", token="model_index.json"),
    case("model-index-is-list", "generate", "x", "--model", "{ws}/models/index-list", "-o", "{ws}/out", token="JSON list"),
    case("model-index-not-json", "generate", "x", "--model", "{ws}/models/index-broken", "-o", "{ws}/out",
         token="not valid JSON"),
    case("model-weights-corrupt", "generate", "x", "--model", "{ws}/models/weights-corrupt", "-o", "{ws}/out",
         token="not a valid safetensors"),
    case("model-pickle-refused", "generate", "x", "--model", "{ws}/boom.ckpt", "-o", "{ws}/out", token="--allow-pickle"),
    case("model-pickle-code", "generate", "x", "--model", "{ws}/boom.ckpt", "--allow-pickle", "--config", "{sd1}",
         "-o", "{ws}/out", token="code or Python objects"),
    case("model-raw-pickle-code", "generate", "x", "--model", "{ws}/boom.pkl", "--allow-pickle", "--config", "{sd1}",
         "-o", "{ws}/out", token="code or Python objects"),
    case("model-zip-truncated", "generate", "x", "--model", "{ws}/truncated.ckpt", "--allow-pickle", "--config", "{sd1}",
         "-o", "{ws}/out", token="corrupt or truncated"),
    # LoRA prompt tags
    gen("tag-weight-not-number", "a <lora:style:abc>", token="weight 'abc'"),
    gen("tag-weight-out-of-range", "a <lora:style:-99>", token="prompt"),
    gen("tag-parent-path", "a <lora:../style>", token="not a LoRA name"),
    gen("tag-absolute-path", "a <lora:/etc/passwd>", token="not a LoRA name"),
    gen("tag-three-fields", "a <lora:style:1:2>", token="prompt"),
    gen("tag-empty-name", "a <lora:>", token="prompt"),
    gen("tag-unknown-name", "a <lora:nope>", token="prompt"),
    gen("tag-lora-dir-is-a-file", "a <lora:style>", "--lora-dir", "{ws}/text.txt", token="not a folder"),
    # LoRA files
    gen("lora-missing", "x", "--lora", "missing.safetensors", token="--lora"),
    gen("lora-weight-not-number", "x", "--lora", "{ws}/loras/ok.safetensors:abc", token="--lora"),
    gen("lora-weight-out-of-range", "x", "--lora", "{ws}/loras/ok.safetensors:99", token="--lora"),
    gen("lora-is-a-folder", "x", "--lora", "{ws}/folder", token="not a file"),
    *[gen(f"lora-{name}", "x", "--lora", f"{{ws}}/loras/{name}.safetensors", token="--lora")
      for name in hf.CORRUPT_SAFETENSORS],
    gen("lora-pickle-in-disguise", "x", "--lora", "{ws}/loras/boom.safetensors", token="--allow-pickle"),
    gen("lora-pickle-code", "x", "--lora", "{ws}/loras/boom.pt", "--allow-pickle", token="code or Python objects"),
    # prompts and options that cannot work
    gen("prompt-with-negative-marker-line", "a cat\nNegative prompt: dog", token="prompt"),
    gen("prompt-too-long", "a" * 100_001, token="prompt"),
    gen("blend-prompt-with-tag", "x", "--blend-prompt", "y <lora:style>", token="--blend-prompt"),
    gen("blend-without-blend-prompt", "x", "--blend", "0.5", token="--blend"),
    gen("blend-out-of-range", "x", "--blend-prompt", "y", "--blend", "2", token="--blend"),
    gen("variation-seed-without-strength", "x", "--variation-seed", "3", token="--variation-seed"),
    gen("variation-strength-out-of-range", "x", "--variation-strength", "2", token="--variation-strength"),
    # destinations
    case("output-jpg", "generate", "x", *TINY, "-o", "{ws}/out.jpg", token="-o"),
    case("output-dev-null", "generate", "x", *TINY, "-o", "/dev/null", token="-o"),
    case("output-exists", "generate", "x", *TINY, "-o", "{ws}/existing.png", token="--overwrite"),
    case("output-is-a-folder", "generate", "x", *TINY, "-o", "{ws}/folder.png", "--overwrite", token="is a folder"),
    case("output-under-a-file", "generate", "x", *TINY, "-o", "{ws}/text.txt/sub", token="not a folder"),
    case("output-read-only", "generate", "x", *TINY, "-o", "/proc/sdlab-out", token="cannot write"),
    case("output-batch-name-taken", "generate", "x", *TINY, "-b", "3", "-o", "{ws}/batch.png", token="batch-1.png"),
    # --from an image's metadata
    from_image("from-no-parameters", "{ws}/noparams.png"),
    from_image("from-garbage", "{ws}/garbage.png"),
    from_image("from-steps-not-number", "{ws}/steps-abc.png"),
    from_image("from-lora-path-in-prompt", "{ws}/evil.png"),
    from_image("from-size-too-large", "{ws}/huge-size.png"),
    from_image("from-missing", "{ws}/missing.png"),
    # input images
    img("image-missing", "--image", "{ws}/missing.png", token="--image"),
    img("image-garbage", "--image", "{ws}/garbage.png", token="--image"),
    img("image-gif-named-png", "--image", "{ws}/gif.png", token="--image"),
    img("image-bomb", "--image", "{ws}/bomb.png", token="--image"),
    img("image-header-claims-huge", "--image", "{ws}/liar.png", token="--image"),
    img("image-truncated", "--image", "{ws}/truncated.png", token="--image"),
    img("image-is-a-folder", "--image", "{ws}/folder", token="--image"),
    img("image-text-file", "--image", "{ws}/text.txt", token="--image"),
    img("strength-above-one", "--image", "{ws}/in.png", "--strength", "1.5", token="--strength"),
    img("strength-negative", "--image", "{ws}/in.png", "--strength", "-0.1", token="--strength"),
    img("resize-mode-unknown", "--image", "{ws}/in.png", "--resize-mode", "bogus", token="--resize-mode"),
    case("img2img-without-image", "img2img", "x", token="--image"),
    img("mask-missing", "--image", "{ws}/in.png", "--mask", "{ws}/missing.png", token="--mask", command="inpaint"),
    img("mask-all-black", "--image", "{ws}/in.png", "--mask", "{ws}/black.png", token="--mask", command="inpaint"),
    img("mask-bomb", "--image", "{ws}/in.png", "--mask", "{ws}/bomb.png", token="--mask", command="inpaint"),
    img("padding-too-large", "--image", "{ws}/in.png", "--mask", "{ws}/mask.png", "--padding", "999",
        token="--padding", command="inpaint"),
    img("mask-blur-negative", "--image", "{ws}/in.png", "--mask", "{ws}/mask.png", "--mask-blur", "-1",
        token="--mask-blur", command="inpaint"),
    # sweeps
    *[case(f"sweep-{name}", "sweep", "a red circle", *args, "--model", "{sd1}", "--steps", "1", "-W", "32", "-H", "32",
           "-o", "{ws}/sweep", token=token) for name, args, token in [
        ("same-parameter-on-both-axes", ("-x", "cfg=1,2", "-y", "cfg=3,4"), "-y"),
        ("strength-without-image", ("-x", "strength=0.2,0.4"), "-x"),
        ("range-of-a-billion", ("-x", "cfg=1-1000000000 (+1)"), "-x"),
        ("count-of-a-million", ("-x", "cfg=1-10 [1000000]"), "-x"),
        ("unknown-parameter", ("-x", "bogus=1,2"), "-x"),
        ("empty-values", ("-x", "cfg="), "-x"),
        ("duplicate-values", ("-x", "cfg=1,1"), "-x"),
        ("too-many-cells", ("-x", "cfg=1,2,3", "--max-cells", "2"), "--max-cells"),
        ("schedule-the-sampler-lacks", ("-x", "schedule=karras,exponential", "--sampler", "DDIM"), "-x"),
        ("variation-seed-without-strength", ("-x", "variation-seed=1,2"), "-x"),
        ("blend-without-blend-prompt", ("-x", "blend=0,1"), "-x"),
        ("lora-weight-without-lora", ("-x", "lora-weight=0,1"), "-x"),
        ("search-text-not-in-prompt", ("-x", "prompt=zebra,horse"), "-x"),
        ("size-not-a-size", ("-x", "size=abc,def"), "-x"),
    ]],
    case("sweep-output-is-a-file", "sweep", "x", "-x", "cfg=1,2", "--model", "{sd1}", "-o", "{ws}/text.txt", token="-o"),
    # listings and info
    case("loras-folder-is-a-file", "loras", "{ws}/text.txt", token="folder"),
    case("info-garbage", "info", "{ws}/garbage.png", token="image"),
    case("info-no-parameters", "info", "{ws}/noparams.png", token="image"),
    case("info-bomb", "info", "{ws}/bomb.png", token="image"),
    # LoRA training
    *[case(f"train-lora-{name}", "train-lora", *args, "--model", "{sd1}", "--steps", "1", token=token) for name, args, token in [
        ("data-missing", ("{ws}/nodata", "-o", "{ws}/t/new.safetensors"), "data"),
        ("output-not-safetensors", ("{ws}/data", "-o", "{ws}/t/new.ckpt"), "-o"),
        ("rank-zero", ("{ws}/data", "-o", "{ws}/t/new.safetensors", "--rank", "0"), "--rank"),
        ("resume-without-checkpoint", ("{ws}/data", "-o", "{ws}/t/new.safetensors", "--resume"), "--resume"),
        ("resume-truncated", ("{ws}/data", "-o", "{ws}/t/truncated.safetensors", "--resume"), "--resume"),
        ("resume-foreign", ("{ws}/data", "-o", "{ws}/t/foreign.safetensors", "--resume"), "--resume"),
        ("resume-pickle", ("{ws}/data", "-o", "{ws}/t/pickle.safetensors", "--resume"), "--resume"),
        ("output-exists", ("{ws}/data", "-o", "{ws}/loras/ok.safetensors"), "--overwrite"),
        ("output-is-a-folder", ("{ws}/data", "-o", "{ws}/dir.safetensors", "--overwrite"), "is a folder"),
        ("output-under-a-file", ("{ws}/data", "-o", "{ws}/text.txt/x.safetensors"), "not a folder"),
        ("caption-not-utf8", ("{ws}/data-bad-caption", "-o", "{ws}/t/new.safetensors"), "UTF-8"),
        ("validation-data-missing", ("{ws}/data", "-o", "{ws}/t/new.safetensors", "--validation-data", "{ws}/nodata"),
         "--validation-data"),
        ("mixed-precision-on-cpu", ("{ws}/data", "-o", "{ws}/t/new.safetensors", "--mixed-precision", "fp16"),
         "--mixed-precision"),
        ("optimizer-unknown", ("{ws}/data", "-o", "{ws}/t/new.safetensors", "--optimizer", "sgd"), "--optimizer"),
        ("processes-zero", ("{ws}/data", "-o", "{ws}/t/new.safetensors", "--num-processes", "0"), "--num-processes"),
        ("targets-unknown", ("{ws}/data", "-o", "{ws}/t/new.safetensors", "--unet-targets", "bogus"), "--unet-targets"),
    ]],
    # base training
    case("train-base-output-is-a-file", "train-base", "{ws}/text.txt", "--tiny", token="output"),
    case("train-base-corrupt-checkpoint", "train-base", "{ws}/base-run", "--tiny", token="output"),
    case("train-base-steps-zero", "train-base", "{ws}/base-new", "--tiny", "--unet-steps", "0", token="--unet-steps"),
    case("train-base-max-steps-zero", "train-base", "{ws}/base-new", "--tiny", "--max-steps", "0", token="--max-steps"),
    # exercises, eval, demo
    case("exercise-guidance-images-zero", "exercise", "guidance", "--images", "0", token="--images"),
    case("exercise-guidance-output-is-a-file", "exercise", "guidance", "-o", "{ws}/text.txt", "--images", "1", token="-o"),
    case("exercise-lora-rank-zero", "exercise", "lora", "--rank", "0", "-o", "{ws}/ex", token="--rank"),
    case("exercise-lora-targets-unknown", "exercise", "lora", "--targets", "bogus", "-o", "{ws}/ex", token="--targets"),
    case("exercise-strength-bomb", "exercise", "strength", "--image", "{ws}/bomb.png", "-o", "{ws}/ex", token="--image"),
    case("eval-adherence-images-zero", "eval", "adherence", "--images", "0", token="--images"),
    case("eval-adherence-cfg-negative", "eval", "adherence", "--cfg", "-1", "--images", "1", token="--cfg"),
    case("demo-output-is-a-file", "demo", "-o", "{ws}/text.txt", token="-o"),
    case("demo-seed-negative", "demo", "--seed", "-5", "-o", "{ws}/demo", token="--seed"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, sd1_dir):
    """One folder of hostile files shared by the whole catalogue (no case may change it)."""
    ws = tmp_path_factory.mktemp("hostile")
    marker = ws.parent / f"{ws.name}-PICKLE-RAN"
    for name in ("folder", "folder.png", "dir.safetensors", "loras", "models", "t", "data", "data-bad-caption", "base-run"):
        (ws / name).mkdir()
    (ws / "text.txt").write_text("not an image, not a model\n")
    Image.new("RGB", (40, 40), "red").save(ws / "in.png")
    mask = Image.new("L", (40, 40), 0)
    mask.paste(255, (0, 0, 20, 40))
    mask.save(ws / "mask.png")
    Image.new("L", (40, 40), 0).save(ws / "black.png")
    hf.png_with_text(ws / "existing.png", "keep me")
    hf.png_with_text(ws / "batch-1.png", "keep me too")
    hf.png_with_text(ws / "noparams.png", None)
    hf.png_with_text(ws / "steps-abc.png", "a cat\nSteps: abc, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 32x32")
    hf.png_with_text(ws / "evil.png", "a <lora:/etc/passwd>\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 32x32")
    hf.png_with_text(ws / "huge-size.png", "a cat\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 99999x99999")
    (ws / "garbage.png").write_bytes(b"\x89PNG not really an image" * 10)
    Image.new("RGB", (8, 8)).save(ws / "gif.png", format="GIF")
    full = (ws / "in.png").read_bytes()
    (ws / "truncated.png").write_bytes(full[: len(full) // 2])
    hf.lying_png(ws / "liar.png", 100_000, 100_000)
    hf.bomb_png(ws / "bomb.png")
    hf.booby_trapped_zip(ws / "boom.ckpt", marker)
    hf.booby_trapped_pickle(ws / "boom.pkl", marker)
    (ws / "truncated.ckpt").write_bytes((ws / "boom.ckpt").read_bytes()[:300])
    loras = ws / "loras"
    (loras / "ok.safetensors").write_bytes(hf.valid_lora_bytes())
    for name, build in hf.CORRUPT_SAFETENSORS.items():
        (loras / f"{name}.safetensors").write_bytes(build())
    hf.booby_trapped_zip(loras / "boom.safetensors", marker)
    hf.booby_trapped_zip(loras / "boom.pt", marker)
    models = ws / "models"
    (models / "index-list").mkdir()
    (models / "index-list" / "model_index.json").write_text("[]")
    (models / "index-broken").mkdir()
    (models / "index-broken" / "model_index.json").write_text("{")
    corrupt = models / "weights-corrupt"
    corrupt.mkdir()
    for part in sd1_dir.iterdir():
        if part.name != "_tok":
            (corrupt / part.name).symlink_to(part)
    (corrupt / "unet").unlink()
    (corrupt / "unet").mkdir()
    (corrupt / "unet" / "config.json").symlink_to(sd1_dir / "unet" / "config.json")
    (corrupt / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(hf.CORRUPT_SAFETENSORS["truncated"]())
    (models / "broken.safetensors").write_bytes(hf.CORRUPT_SAFETENSORS["overlapping"]())
    for i in range(2):
        Image.new("RGB", (32, 32), "blue").save(ws / "data" / f"{i}.png")
        (ws / "data" / f"{i}.txt").write_text("a blue square")
    Image.new("RGB", (32, 32), "blue").save(ws / "data-bad-caption" / "0.png")
    (ws / "data-bad-caption" / "0.txt").write_bytes(b"\xff\xfe\x00bad")
    for name, blob in (("truncated", valid_checkpoint()[:-5]), ("foreign", hf.valid_lora_bytes()),
                       ("pickle", (ws / "boom.ckpt").read_bytes())):
        (ws / "t" / f"{name}.training").mkdir()
        (ws / "t" / f"{name}.training" / "checkpoint.safetensors").write_bytes(blob)
    (ws / "base-run" / "checkpoint.safetensors").write_bytes(valid_checkpoint()[:-5])
    return ws, marker


def valid_checkpoint() -> bytes:
    import torch

    return save({"unet/w": torch.zeros(4)}, metadata={"sdlab_training_state": json.dumps({"step": 1})})


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder below `folder` with its size, modification time and (small files) content hash."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or path.is_dir():
            out[str(path.relative_to(folder))] = ("dir" if path.is_dir() else "link",)
            continue
        stat = path.stat()
        digest = hashlib.sha1(path.read_bytes()).hexdigest() if stat.st_size < 1 << 20 else ""
        out[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns, digest)
    return out


@pytest.fixture
def hostile(workspace, sd1_dir, monkeypatch):
    ws, marker = workspace
    monkeypatch.chdir(ws)
    monkeypatch.setenv("SDLAB_MODELS", str(ws / "models"))
    monkeypatch.setenv("SDLAB_LORAS", str(ws / "loras"))
    return ws, marker, sd1_dir


def test_the_catalogue_is_large_and_distinct():
    assert len(CATALOGUE) >= 100
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)
    assert len({c.args for c in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("item", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_bad_input_is_one_line_and_changes_nothing(item: Case, hostile):
    ws, marker, sd1 = hostile
    before = snapshot(ws)
    args = [a.format(ws=ws, sd1=sd1) for a in item.args]
    result = runner.invoke(app, args)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit), \
        result.output
    assert result.exit_code == item.code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert item.token in lines[0], lines[0]
    assert not marker.exists(), "a pickle payload ran"
    assert snapshot(ws) == before, "a failed command changed or added files"
