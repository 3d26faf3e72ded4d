"""Image-to-image and inpainting mechanics on tiny models."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from sdlab.requests import build_request


@pytest.fixture
def picture():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))


@pytest.fixture
def square_mask():
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (10, 10, 22, 22))
    return mask


def outside_border(mask: Image.Image, blur: int) -> np.ndarray:
    """Pixels that stay black after blurring the mask (and one pixel more): these must not change."""
    grown = mask.filter(ImageFilter.GaussianBlur(blur)).filter(ImageFilter.MaxFilter(3))
    return np.asarray(grown) == 0


def test_strength_zero_returns_the_input_unchanged(engine, sd1_dir, picture):
    calls = []
    result = engine.generate(build_request(task="img2img", image=picture, prompt="a cat", model=str(sd1_dir),
                                           strength=0.0, steps=5, seed=1),
                             progress=lambda step, total: calls.append(step))
    assert np.array_equal(np.asarray(result.images[0].image), np.asarray(picture))
    assert calls == []  # no denoising step ran
    assert "Denoising strength: 0," in result.images[0].infotext


def test_strength_one_ignores_the_input(engine, sd1_dir, picture):
    other = Image.fromarray(255 - np.asarray(picture))
    a = engine.generate(build_request(task="img2img", image=picture, prompt="x", model=str(sd1_dir), strength=1.0, steps=4, seed=2))
    b = engine.generate(build_request(task="img2img", image=other, prompt="x", model=str(sd1_dir), strength=1.0, steps=4, seed=2))
    assert np.array_equal(np.asarray(a.images[0].image), np.asarray(b.images[0].image))


def test_low_strength_stays_closer_to_the_input_than_high(engine, sd1_dir, picture):
    def distance(strength):
        out = engine.generate(build_request(task="img2img", image=picture, prompt="x", model=str(sd1_dir),
                                            strength=strength, steps=10, seed=3)).images[0].image
        return np.abs(np.asarray(out, dtype=float) - np.asarray(picture, dtype=float)).mean()
    assert distance(0.2) < distance(0.9)


def test_other_size_input_is_resized_with_a_warning(engine, sd1_dir, picture):
    result = engine.generate(build_request(task="img2img", image=picture, prompt="x", model=str(sd1_dir),
                                           width=48, height=48, strength=0.5, steps=2, seed=1))
    assert result.images[0].image.size == (48, 48)
    assert len(result.warnings) == 1 and result.warnings[0].startswith("image: resized from 32x32 to 48x48 (")


@pytest.mark.parametrize("model_fixture", ["sd1_dir", "sd1_inpaint_dir", "sdxl_dir"])
@pytest.mark.parametrize("only_masked", [False, True])
def test_inpainting_keeps_unmasked_pixels(request, engine, model_fixture, only_masked, picture, square_mask):
    model = request.getfixturevalue(model_fixture)
    result = engine.generate(build_request(task="inpaint", image=picture, mask=square_mask, prompt="a red circle",
                                           model=str(model), steps=3, seed=4, mask_blur=2,
                                           inpaint_only_masked=only_masked, inpaint_padding=4))
    out = np.asarray(result.images[0].image, dtype=int)
    keep = outside_border(square_mask, 2)
    assert np.abs(out[keep] - np.asarray(picture, dtype=int)[keep]).max() <= 2
    inside = np.asarray(square_mask) == 255
    assert np.abs(out[inside] - np.asarray(picture, dtype=int)[inside]).mean() > 5  # the masked part did change


def test_rgba_mask_uses_alpha(engine, sd1_dir, picture, square_mask):
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    rgba.putalpha(square_mask)
    via_alpha = engine.generate(build_request(task="inpaint", image=picture, mask=rgba, prompt="x", model=str(sd1_dir), steps=2, seed=5))
    via_grey = engine.generate(build_request(task="inpaint", image=picture, mask=square_mask, prompt="x", model=str(sd1_dir), steps=2, seed=5))
    assert np.array_equal(np.asarray(via_alpha.images[0].image), np.asarray(via_grey.images[0].image))


def test_inpainting_model_refuses_txt2img(engine, sd1_inpaint_dir):
    from sdlab.errors import UsageError

    with pytest.raises(UsageError, match="inpainting model"):
        engine.generate(build_request(prompt="x", model=str(sd1_inpaint_dir), steps=2, width=32, height=32))


def test_an_opaque_rgba_mask_is_read_by_its_colours_and_a_transparent_one_by_its_alpha():
    from sdlab.engine.masks import mask_from_image

    canvas = Image.new("RGBA", (8, 8), (0, 0, 0, 255))  # what a browser canvas exports: opaque, white = paint
    canvas.paste((255, 255, 255, 255), (0, 0, 4, 8))
    read = np.asarray(mask_from_image(canvas))
    assert (read[:, :4] == 255).all() and (read[:, 4:] == 0).all()
    cut = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # A1111's convention: opaque pixels are repainted
    cut.paste((0, 0, 0, 255), (0, 0, 4, 8))
    read = np.asarray(mask_from_image(cut))
    assert (read[:, :4] == 255).all() and (read[:, 4:] == 0).all()
