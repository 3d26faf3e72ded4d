"""Files a hostile or careless user hands sdlab: corrupt safetensors, booby-trapped pickles, image bombs,
lying headers, damaged metadata. Each builder writes one file and returns its path."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zlib
from pathlib import Path

import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import save


class Boom:
    """Unpickling this runs `touch MARKER`: if the marker ever exists, sdlab executed a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def booby_trapped_zip(path: Path, marker: Path) -> Path:
    """A torch zip checkpoint whose pickle would run code."""
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": Boom(marker)}, path)
    return path


def booby_trapped_pickle(path: Path, marker: Path) -> Path:
    """A raw (protocol 2) pickle that would run code."""
    path.write_bytes(pickle.dumps({"state_dict": Boom(marker)}, protocol=2))
    return path


def safetensors_bytes(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def valid_lora_bytes() -> bytes:
    return save({"lora_unet_a.lora_down.weight": torch.zeros(2, 4), "lora_unet_a.lora_up.weight": torch.zeros(4, 2),
                 "lora_unet_a.alpha": torch.tensor(2.0)})


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
#: name -> bytes of a file that breaks one rule of the safetensors format.
CORRUPT_SAFETENSORS = {
    "truncated": lambda: valid_lora_bytes()[:-7],
    "entry-not-object": lambda: safetensors_bytes({"a": 5}, b""),
    "no-offsets": lambda: safetensors_bytes({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8),
    "unknown-dtype": lambda: safetensors_bytes({"a": {**F32x2, "dtype": "F33"}}, b"\0" * 8),
    "offsets-past-end": lambda: safetensors_bytes({"a": {**F32x2, "data_offsets": [0, 1 << 40]}}, b"\0" * 8),
    "overlapping": lambda: safetensors_bytes({"a": F32x2, "b": F32x2}, b"\0" * 8),
    "size-mismatch": lambda: safetensors_bytes({"a": {**F32x2, "shape": [3]}}, b"\0" * 8),
    "negative-shape": lambda: safetensors_bytes({"a": {**F32x2, "shape": [-2]}}, b"\0" * 8),
    "header-not-json": lambda: struct.pack("<Q", 9) + b"{not json",
    "header-is-list": lambda: struct.pack("<Q", 2) + b"[]",
    "header-longer-than-file": lambda: struct.pack("<Q", 10_000_000) + b"{}",
    "stray-bytes": lambda: valid_lora_bytes() + b"junk",
    "metadata-not-strings": lambda: safetensors_bytes({"__metadata__": {"a": 1}, "a": F32x2}, b"\0" * 8),
    "empty": lambda: b"",
}


def png_with_text(path: Path, text: str | None, size=(32, 32)) -> Path:
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_text("parameters", text)
    Image.new("RGB", size, "gray").save(path, pnginfo=info)
    return path


def lying_png(path: Path, width: int, height: int) -> Path:
    """A 1x1 PNG whose header claims width x height (the CRC fixed, so only the size lies)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def bomb_png(path: Path) -> Path:
    """12000 x 12000 one-bit pixels, a few KB on disk: between Pillow's warning and error limits."""
    Image.new("1", (12000, 12000)).save(path)
    return path
