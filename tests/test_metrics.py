"""Metrics with known values: PSNR, SSIM, diversity, clipped pixels, CLIP scores on a tiny random CLIP."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from sdlab.errors import UsageError
from sdlab.eval.metrics import clip_image_similarity, clip_score, clipped_fraction, diversity, load_clip, psnr, ssim


def solid(value, size=32):
    return Image.new("RGB", (size, size), (value, value, value))


def noisy(seed, size=32, spread=40):
    rng = np.random.default_rng(seed)
    return Image.fromarray(np.clip(128 + rng.normal(0, spread, (size, size, 3)), 0, 255).astype(np.uint8))


def test_psnr_known_values():
    assert psnr(solid(10), solid(10)) == math.inf
    assert psnr(solid(10), solid(20)) == pytest.approx(10 * math.log10(255 ** 2 / 100))


def test_ssim_known_values():
    assert ssim(noisy(0), noisy(0)) == pytest.approx(1.0)
    # Constant images: variances and covariance vanish, SSIM = (2·a·b + C1) / (a² + b² + C1).
    c1 = (0.01 * 255) ** 2
    assert ssim(solid(100), solid(50)) == pytest.approx((2 * 100 * 50 + c1) / (100 ** 2 + 50 ** 2 + c1))
    assert ssim(noisy(0), noisy(1)) < 0.2 < ssim(noisy(0), noisy(0, spread=30))


def test_faithfulness_falls_with_change():
    base = noisy(3)
    array = np.asarray(base, dtype=np.int16)
    changed = [Image.fromarray(np.clip(array + d, 0, 255).astype(np.uint8)) for d in (2, 10, 40)]
    assert psnr(base, changed[0]) > psnr(base, changed[1]) > psnr(base, changed[2])


def test_diversity_and_clipping():
    assert diversity([noisy(0)] * 3) == 0.0
    assert diversity([solid(0), solid(255)]) == pytest.approx(1.0)
    assert diversity([solid(0), solid(255), solid(0)]) == pytest.approx(2 / 3)
    assert clipped_fraction(solid(0)) == 1.0 and clipped_fraction(solid(128)) == 0.0


def test_bad_metric_input(tmp_path):
    with pytest.raises(UsageError, match="differ in size"):
        psnr(solid(0, 32), solid(0, 16))
    with pytest.raises(UsageError, match="at least 11x11"):
        ssim(solid(0, 8), solid(0, 8))
    with pytest.raises(UsageError, match="no CLIP model"):
        load_clip(str(tmp_path / "missing"))


def test_clip_scores_on_a_tiny_clip(tmp_path):
    import tiny_models

    clip = load_clip(str(tiny_models.clip(tmp_path / "clip")))
    scores = clip_score([noisy(0), noisy(1)], ["a red circle", "a blue square"], clip)
    assert len(scores) == 2 and all(0.0 <= s <= 100.0 for s in scores)
    assert clip_image_similarity([noisy(0)], [noisy(0)], clip) == pytest.approx(1.0, abs=1e-5)
