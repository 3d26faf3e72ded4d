"""LoRA training data: captions, kohya repeat folders, instance prompts, buckets without stretching."""

import numpy as np
import pytest
from PIL import Image

from sdlab.errors import UsageError
from sdlab.training.lora.data import bucket_for, buckets, load, scan


def image(path, size=(64, 64), colour="red"):
    Image.new("RGB", size, colour).save(path)
    return path


def test_captions_from_txt_and_caption_files(tmp_path):
    image(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("a sks star\n")
    image(tmp_path / "b.jpg")
    (tmp_path / "b.caption").write_text("a red sks star")
    examples, warnings = scan(tmp_path)
    assert [(e.path.name, e.caption, e.repeats) for e in examples] == [("a.png", "a sks star", 1), ("b.jpg", "a red sks star", 1)]
    assert warnings == []


def test_kohya_repeat_folders_and_instance_prompt(tmp_path):
    (tmp_path / "10_sks star").mkdir()
    (tmp_path / "2_reg").mkdir()
    image(tmp_path / "10_sks star" / "1.png")
    image(tmp_path / "2_reg" / "1.png")
    (tmp_path / "2_reg" / "1.txt").write_text("a star")
    examples, _ = scan(tmp_path, instance_prompt="a sks star")
    assert sorted((e.repeats, e.caption) for e in examples) == [(2, "a star"), (10, "a sks star")]


def test_bad_data_folders(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        scan(tmp_path / "missing")
    with pytest.raises(UsageError, match="no readable images"):
        scan(tmp_path)
    image(tmp_path / "a.png")
    with pytest.raises(UsageError, match="no caption for a.png.*--instance-prompt"):
        scan(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    examples, warnings = scan(tmp_path, instance_prompt="x")
    assert [e.path.name for e in examples] == ["a.png"]
    assert len(warnings) == 1 and "skipped broken.png" in warnings[0]


def test_buckets_keep_the_aspect_ratio_without_stretching(tmp_path):
    choices = buckets(64, step=8)
    assert all(w % 8 == 0 and h % 8 == 0 and w * h <= 64 * 64 for w, h in choices)
    assert (64, 64) in choices
    assert bucket_for((200, 100), choices)[0] > bucket_for((200, 100), choices)[1]
    assert bucket_for((100, 100), choices) == (64, 64)
    # A wide image with a centred square: cropped to the bucket, the square stays square.
    wide = Image.new("RGB", (200, 100), "white")
    wide.paste((255, 0, 0), (75, 25, 125, 75))
    path = tmp_path / "wide.png"
    wide.save(path)
    examples, _ = scan(tmp_path, instance_prompt="x")
    bucket = bucket_for(examples[0].size, choices)
    out = np.asarray(load(examples[0], bucket))
    red = np.argwhere((out[..., 0] > 200) & (out[..., 1] < 80))
    height, width = red.max(axis=0) - red.min(axis=0) + 1
    assert out.shape[:2] == (bucket[1], bucket[0]) and abs(int(height) - int(width)) <= 2
    flipped = np.asarray(load(examples[0], bucket, flip=True))
    assert np.array_equal(flipped, out[:, ::-1])
