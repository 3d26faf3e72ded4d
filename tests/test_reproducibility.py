"""Seeds: same request and seed give the same bytes; batch image i uses seed + i; -1 records its seed."""

import io

import numpy as np

from sdlab.requests import build_request


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def run(engine, model, **kw):
    fields = dict(prompt="a red circle on a white background", model=str(model), steps=4, width=32, height=32)
    fields.update(kw)
    return engine.generate(build_request(**fields))


def test_same_seed_same_bytes_and_different_seed_differs(engine, sd1_dir):
    first = run(engine, sd1_dir, seed=7).images[0].image
    second = run(engine, sd1_dir, seed=7).images[0].image
    other = run(engine, sd1_dir, seed=8).images[0].image
    assert png_bytes(first) == png_bytes(second)
    assert png_bytes(first) != png_bytes(other)


def test_ancestral_sampler_is_reproducible(engine, sd1_dir):
    a = run(engine, sd1_dir, seed=3, sampler="Euler a").images[0].image
    b = run(engine, sd1_dir, seed=3, sampler="Euler a").images[0].image
    assert png_bytes(a) == png_bytes(b)


def test_batch_image_i_uses_seed_plus_i(engine, sd1_dir):
    batch = run(engine, sd1_dir, seed=100, batch_size=2, batch_count=2)
    assert [im.seed for im in batch.images] == [100, 101, 102, 103]
    alone = run(engine, sd1_dir, seed=103).images[0].image
    assert np.abs(np.asarray(alone, dtype=int) - np.asarray(batch.images[3].image, dtype=int)).max() <= 1


def test_random_seed_is_recorded_and_reproduces(engine, sd1_dir):
    first = run(engine, sd1_dir, seed=-1)
    seed = first.images[0].seed
    assert seed >= 0 and f"Seed: {seed}," in first.images[0].infotext
    again = run(engine, sd1_dir, seed=seed)
    assert png_bytes(again.images[0].image) == png_bytes(first.images[0].image)


def test_cfg_one_differs_from_guided(engine, sd1_dir):
    plain = run(engine, sd1_dir, seed=5, cfg=1.0).images[0].image
    guided = run(engine, sd1_dir, seed=5, cfg=7.0).images[0].image
    assert png_bytes(plain) != png_bytes(guided)
