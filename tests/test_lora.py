"""LoRA at generation time: files and prompt tags, weights (0 = off), several at once, bad files."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sdlab.requests.lora_tags import LoraTag, split_tags
from sdlab.errors import UsageError
from sdlab.requests import build_request


def make_lora(sd1_dir, path, seed):
    """A rank-4 LoRA on the tiny model's attention layers, random (non-zero) up and down weights."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(sd1_dir, safety_checker=None, requires_safety_checker=False)
    torch.manual_seed(seed)
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    StableDiffusionPipeline.save_lora_weights(path.parent, unet_lora_layers=layers, weight_name=path.name,
                                              safe_serialization=True)
    return path


@pytest.fixture(scope="module")
def loras(sd1_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("loras")
    return folder, make_lora(sd1_dir, folder / "style.safetensors", 1), make_lora(sd1_dir, folder / "other.safetensors", 2)


def pixels(engine, sd1_dir, **kw):
    fields = dict(prompt="a red circle", model=str(sd1_dir), steps=3, width=32, height=32, seed=5)
    fields.update(kw)
    result = engine.generate(build_request(**fields))
    return np.asarray(result.images[0].image, dtype=int), result


def test_tags_are_parsed_and_removed():
    assert split_tags("a cat <lora:style:0.8>, sunny <lora:b>") == ("a cat , sunny", [LoraTag("style", 0.8), LoraTag("b", 1.0)])
    assert split_tags("plain") == ("plain", [])


def test_weight_zero_has_no_effect_and_weights_scale(engine, sd1_dir, loras):
    folder, style, _ = loras
    base, _ = pixels(engine, sd1_dir)
    off, _ = pixels(engine, sd1_dir, loras=[{"path": str(style), "weight": 0.0}])
    half, _ = pixels(engine, sd1_dir, loras=[{"path": str(style), "weight": 0.5}])
    full, result = pixels(engine, sd1_dir, loras=[{"path": str(style), "weight": 1.0}])
    assert np.array_equal(off, base)
    assert 0 < np.abs(half - base).mean() < np.abs(full - base).mean()
    assert "Lora hashes: \"style: " in result.images[0].infotext
    again, _ = pixels(engine, sd1_dir)  # no LoRA asked: the exact base weights are back
    assert np.array_equal(again, base)


def test_prompt_tag_equals_the_option_and_is_not_encoded(engine, sd1_dir, loras):
    folder, style, _ = loras
    by_option, _ = pixels(engine, sd1_dir, loras=[{"path": str(style), "weight": 0.7}])
    by_tag, result = pixels(engine, sd1_dir, prompt="a red circle <lora:style:0.7>", lora_dir=str(folder))
    assert np.array_equal(by_option, by_tag)
    assert result.images[0].infotext.startswith("a red circle <lora:style:0.7>")  # the tag stays in the metadata


def test_two_loras_combine(engine, sd1_dir, loras):
    folder, style, other = loras
    one, _ = pixels(engine, sd1_dir, loras=[{"path": str(style)}])
    both, result = pixels(engine, sd1_dir, loras=[{"path": str(style)}, {"path": str(other), "weight": 0.8}])
    assert not np.array_equal(one, both)
    assert [name for name, _, _ in result.resolved.loras] == ["style", "other"]


def test_missing_wrong_base_and_pickle_loras_are_refused(engine, sd1_dir, loras, tmp_path):
    folder, style, _ = loras
    with pytest.raises(UsageError, match="prompt: LoRA 'nope' not found.*other, style"):
        pixels(engine, sd1_dir, prompt="x <lora:nope>", lora_dir=str(folder))
    tensors = load_file(style)
    key = next(k for k in tensors if k.endswith("lora.up.weight") or k.endswith("lora_B.weight"))
    tensors[key] = torch.zeros(tensors[key].shape[0] + 8, tensors[key].shape[1])
    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, wrong)
    with pytest.raises(UsageError, match="does not fit .*size mismatch"):
        pixels(engine, sd1_dir, loras=[{"path": str(wrong)}])
    base, _ = pixels(engine, sd1_dir)
    assert base.std() > 0  # the model still works after the refused file
    pickled = tmp_path / "pickled.safetensors"
    torch.save(load_file(style), pickled)
    with pytest.raises(UsageError, match="pickle"):
        pixels(engine, sd1_dir, loras=[{"path": str(pickled)}])


def test_cli_lora_option(sd1_dir, loras, tmp_path):
    from typer.testing import CliRunner

    from sdlab.cli.main import app

    folder, style, _ = loras
    result = CliRunner().invoke(app, ["generate", "a red circle", "--model", str(sd1_dir), "--steps", "2", "-W", "32",
                                      "-H", "32", "--lora", f"{style}:0.6", "-o", str(tmp_path / "x.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert "style: " in result.stdout
    bad = CliRunner().invoke(app, ["generate", "x", "--model", str(sd1_dir), "--lora", "missing.safetensors"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --lora:")


def test_kohya_file_gives_the_same_image_as_the_diffusers_file(engine, sd1_dir, loras, tmp_path):
    """The same weights in kohya's layout (lora_unet_*, lora_down/lora_up/alpha) load to the same adapter."""
    from sdlab.engine.lora_kohya import diffusers_to_kohya

    folder, style, _ = loras
    kohya = diffusers_to_kohya(load_file(style))
    assert all(k.startswith("lora_unet_") for k in kohya)
    assert any(k.endswith(".alpha") for k in kohya) and any(k.endswith(".lora_up.weight") for k in kohya)
    path = tmp_path / "style_kohya.safetensors"
    save_file(kohya, path)
    from_diffusers, _ = pixels(engine, sd1_dir, loras=[{"path": str(style), "weight": 0.8}])
    from_kohya, _ = pixels(engine, sd1_dir, loras=[{"path": str(path), "weight": 0.8}])
    assert np.abs(from_kohya - from_diffusers).max() <= 1
    base, _ = pixels(engine, sd1_dir)
    assert np.abs(from_kohya - base).mean() > 1  # the adapter really applied


def test_fuse_matches_unfused_and_unfuse_restores_the_base(sd1_dir, loras):
    from sdlab.engine.engine import Engine

    engine = Engine()  # its own model: this test compares raw weights
    folder, style, _ = loras
    base_image, _ = pixels(engine, sd1_dir)
    unet = engine.models.get(str(sd1_dir)).pipe.unet
    original = {k: v.clone() for k, v in unet.state_dict().items()}
    unfused, _ = pixels(engine, sd1_dir, loras=[{"path": str(style), "weight": 0.8}])
    fused, _ = pixels(engine, sd1_dir, loras=[{"path": str(style), "weight": 0.8}], fuse_loras=True)
    assert np.abs(fused - unfused).max() <= 2
    after, _ = pixels(engine, sd1_dir)  # no LoRA: unfused and unloaded
    assert np.abs(after - base_image).max() <= 1
    restored = unet.state_dict()
    worst = max(float((restored[k] - v).abs().max()) for k, v in original.items() if k in restored)
    assert worst < 1e-5, worst  # unfusing subtracts what fusing added: equal to float rounding


def test_loras_command_reads_format_rank_base_and_triggers(loras, tmp_path):
    import json as jsonlib

    from typer.testing import CliRunner

    from sdlab.cli.main import app
    from sdlab.engine.lora_kohya import diffusers_to_kohya

    folder, style, _ = loras
    listing = tmp_path / "loras"
    listing.mkdir()
    (listing / "style.safetensors").write_bytes(style.read_bytes())
    meta = {"ss_base_model_version": "sd_v1", "ss_network_dim": "4",
            "ss_tag_frequency": jsonlib.dumps({"10_sks": {"sks star": 15, "red": 3}})}
    save_file(diffusers_to_kohya(load_file(style)), listing / "kohya.safetensors", metadata=meta)
    (listing / "broken.safetensors").write_bytes(b"\x00" * 4)
    result = CliRunner().invoke(app, ["loras", str(listing), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in jsonlib.loads(result.stdout)}
    assert rows["style"]["format"] == "diffusers" and rows["style"]["rank"] == 4
    assert rows["kohya"]["format"] == "kohya" and rows["kohya"]["base"] == "sd_v1"
    assert rows["kohya"]["triggers"][0] == "sks star"
    assert rows["broken"]["format"] in ("not safetensors",) or rows["broken"]["format"].startswith("unreadable")
    assert CliRunner().invoke(app, ["loras", str(tmp_path / "none")]).exit_code == 2


@pytest.mark.parametrize("layout", ["diffusers", "kohya"])
def test_modules_that_cannot_be_applied_are_named(engine, sd1_dir, loras, tmp_path, layout):
    from sdlab.engine.lora_kohya import diffusers_to_kohya

    folder, style, _ = loras
    tensors = load_file(style)
    tensors["unet.mid_block.nonexistent.to_q.lora.down.weight"] = torch.zeros(4, 16)
    tensors["unet.mid_block.nonexistent.to_q.lora.up.weight"] = torch.zeros(16, 4)
    path = tmp_path / f"extra_{layout}.safetensors"
    save_file(diffusers_to_kohya(tensors) if layout == "kohya" else tensors, path)
    modules = len({key.split(".lora")[0] for key in tensors})
    _, result = pixels(engine, sd1_dir, loras=[{"path": str(path)}])
    assert result.warnings == [f"lora: 1 of {modules} modules of {path.name} could not be applied: unet/mid_block_nonexistent_to_q"]
    _, clean = pixels(engine, sd1_dir, loras=[{"path": str(style)}])
    assert clean.warnings == []


def test_sdxl_lora(engine, sdxl_dir, tmp_path):
    from diffusers import StableDiffusionXLPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionXLPipeline.from_pretrained(sdxl_dir)
    torch.manual_seed(3)
    pipe.unet.add_adapter(LoraConfig(r=2, lora_alpha=2, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    StableDiffusionXLPipeline.save_lora_weights(tmp_path, unet_lora_layers=layers, weight_name="xl.safetensors")
    path = tmp_path / "xl.safetensors"
    base, _ = pixels(engine, sdxl_dir)
    off, _ = pixels(engine, sdxl_dir, loras=[{"path": str(path), "weight": 0.0}])
    on, result = pixels(engine, sdxl_dir, loras=[{"path": str(path), "weight": 1.0}])
    assert np.array_equal(off, base) and np.abs(on - base).mean() > 1
    assert result.warnings == []
