"""Model file formats, detected from their bytes (never from the extension)."""

from __future__ import annotations

import hashlib
import json
import struct
from enum import Enum
from pathlib import Path

from sdlab.errors import ModelLoadError


class FileFormat(str, Enum):
    safetensors = "safetensors"
    torch_zip = "torch zip (pickle)"
    pickle = "pickle"
    gguf = "gguf"
    unknown = "unknown"


def detect_format(path: Path) -> FileFormat:
    """Look at the first bytes: safetensors header, torch's zip archive, a raw pickle or GGUF."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head[:4] == b"PK\x03\x04":
        return FileFormat.torch_zip
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in range(2, 6):
        return FileFormat.pickle
    if head[:4] == b"GGUF":
        return FileFormat.gguf
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= 100_000_000 and head[8:9] == b"{":
            return FileFormat.safetensors
    return FileFormat.unknown


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes, __metadata__), checked for corruption."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise ModelLoadError(f"{path}: not a valid safetensors file (truncated header)")
        (header_len,) = struct.unpack("<Q", raw)
        if header_len + 8 > size:
            raise ModelLoadError(f"{path}: corrupt safetensors file (header says {header_len} bytes, file has {size})")
        try:
            header = json.loads(handle.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelLoadError(f"{path}: corrupt safetensors file (header is not JSON)") from None
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        raise ModelLoadError(f"{path}: corrupt or truncated safetensors file (tensors run past the end of the file)")
    return header


def load_state_dict(path: Path, allow_pickle: bool = False) -> dict:
    """Tensors of a checkpoint file: safetensors always; pickle only with `allow_pickle`, and then weights only."""
    kind = detect_format(path)
    if kind is FileFormat.safetensors:
        from safetensors.torch import load_file

        safetensors_header(path)
        return load_file(str(path))
    if kind in (FileFormat.torch_zip, FileFormat.pickle):
        if not allow_pickle:
            raise ModelLoadError(
                f"{path} is a pickle checkpoint, which can run code when loaded; convert it to .safetensors, "
                "or pass --allow-pickle if you trust it (it is then read with weights_only=True)"
            )
        import torch

        with open(path, "rb") as handle:  # a handle, so torch cannot pick a reader by the file's name
            state = torch.load(handle, map_location="cpu", weights_only=True)
        return state.get("state_dict", state) if isinstance(state, dict) else state
    raise ModelLoadError(f"{path}: unsupported model file ({kind.value}); sdlab reads safetensors (and pickle with --allow-pickle)")


def file_hashes(path: Path) -> tuple[str, str]:
    """(A1111's short "Model hash" = first 10 hex of the file's SHA-256, full SHA-256)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    full = digest.hexdigest()
    return full[:10], full
