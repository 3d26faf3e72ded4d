"""A1111 infotext: writing, parsing real A1111 strings, and round trips through PNG files."""

from sdlab.engine.images import read_parameters
from sdlab.outputs import save_png
from sdlab.requests.infotext import format_infotext, parse_infotext
from sdlab.requests import build_request

A1111 = """masterpiece, best quality, 1girl, (blue hair:1.2), <lora:detail_tweaker:0.5>
standing in a field
Negative prompt: lowres, bad anatomy, (worst quality:1.4)
easynegative
Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 2954016437, Size: 512x768, Model hash: 7eb674963a, Model: anything-v5, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires upscaler: R-ESRGAN 4x+ Anime6B, Lora hashes: "detail_tweaker: 2ca0c7a9f8e5", TI hashes: "easynegative: c74b4e810b03", Version: v1.7.0"""


def test_parses_real_a1111_infotext():
    info = parse_infotext(A1111)
    assert info["Prompt"] == "masterpiece, best quality, 1girl, (blue hair:1.2), <lora:detail_tweaker:0.5>\nstanding in a field"
    assert info["Negative prompt"] == "lowres, bad anatomy, (worst quality:1.4)\neasynegative"
    assert info["Steps"] == "28" and info["Sampler"] == "DPM++ 2M Karras" and info["CFG scale"] == "6.5"
    assert info["Seed"] == "2954016437" and (info["Size-1"], info["Size-2"]) == (512, 768)
    assert info["Lora hashes"] == "detail_tweaker: 2ca0c7a9f8e5"
    assert info["TI hashes"] == "easynegative: c74b4e810b03"
    assert info["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B" and info["Version"] == "v1.7.0"


def test_infotext_without_negative_prompt():
    info = parse_infotext("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512")
    assert info["Prompt"] == "a cat" and info["Negative prompt"] == "" and info["Sampler"] == "Euler a"


def test_values_with_commas_colons_and_newlines_are_quoted_and_round_trip():
    params = {"Steps": 20, "Sampler": "Euler a", "CFG scale": "7", "Seed": 1, "Note": 'a, b: "c"\nd'}
    text = format_infotext("p, q", "n", params)
    assert 'Note: "a, b: \\"c\\"\\nd"' in text
    info = parse_infotext(text)
    assert info["Note"] == 'a, b: "c"\nd' and info["Prompt"] == "p, q" and info["Negative prompt"] == "n"


def test_generated_png_carries_parameters(engine, sd1_dir, tmp_path):
    result = engine.generate(build_request(prompt="a red, (round:1.2) circle", negative_prompt="blurry",
                                           model=str(sd1_dir), steps=3, cfg=4.5, seed=11, width=32, height=32,
                                           sampler="Euler a"))
    path = result.images[0].save(tmp_path / "x.png")
    info = parse_infotext(read_parameters(path))
    assert info["Prompt"] == "a red, (round:1.2) circle" and info["Negative prompt"] == "blurry"
    assert (info["Steps"], info["Sampler"], info["CFG scale"], info["Seed"], info["Size"]) == ("3", "Euler a", "4.5", "11", "32x32")
    assert info["Model"] == sd1_dir.name and len(info["Model hash"]) == 10


def test_save_never_overwrites_unless_asked(tmp_path):
    import pytest
    from PIL import Image

    from sdlab.errors import UsageError

    image = Image.new("RGB", (8, 8), "red")
    path = save_png(image, tmp_path / "a.png", "x")
    with pytest.raises(UsageError, match="exists"):
        save_png(Image.new("RGB", (8, 8), "blue"), path, "y")
    assert Image.open(path).getpixel((0, 0)) == (255, 0, 0)
    save_png(Image.new("RGB", (8, 8), "blue"), path, "y", overwrite=True)
    assert Image.open(path).getpixel((0, 0)) == (0, 0, 255)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temp files left
