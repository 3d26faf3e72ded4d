"""Model file formats, detected from their bytes (never from the extension)."""

from __future__ import annotations

import hashlib
import json
import struct
from enum import Enum
from pathlib import Path

from sdlab.errors import Fix, ModelLoadError


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


#: Bits per element of every safetensors dtype (the format's own list).
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
              "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
              "I64": 64, "U64": 64, "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
MAX_HEADER_BYTES = 100_000_000  # the format's limit


def safetensors_header(path: Path, argument: str = "model") -> dict:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes, __metadata__), checked by the
    format's rules before anything is loaded: a JSON object of entries each with a known dtype, a shape and
    data offsets that tile the data exactly (no gaps, no overlaps, nothing past the end, nothing left over).
    A file that breaks any rule raises ModelLoadError naming `argument` and the rule."""

    def bad(reason: str) -> ModelLoadError:
        return ModelLoadError(f"{path} is not a valid safetensors file ({reason})", argument=argument)

    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            raw = handle.read(8)
            if len(raw) < 8:
                raise bad("shorter than its 8-byte header length")
            (header_len,) = struct.unpack("<Q", raw)
            if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                raise bad(f"its header claims {header_len} bytes; the file has {size}: truncated or corrupt")
            text = handle.read(header_len)
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read ({exc.strerror or exc})", argument=argument) from None
    try:
        header = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad("its header is not JSON") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise bad("__metadata__ is not a map of strings to strings")
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise bad(f"entry {name!r} is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPE_BITS:
            raise bad(f"entry {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise bad(f"entry {name!r} has no valid shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise bad(f"entry {name!r} has no valid data_offsets")
        elements = 1
        for n in shape:
            elements *= n
        if elements * DTYPE_BITS[dtype] != (offsets[1] - offsets[0]) * 8:
            raise bad(f"entry {name!r} holds {offsets[1] - offsets[0]} bytes, not the {elements} {dtype} values "
                      "its shape says")
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            raise bad(f"entry {name!r} overlaps another or leaves a gap")
        end = stop
    if 8 + header_len + end != size:
        state = "runs past the end of the file: truncated" if 8 + header_len + end > size else "is followed by stray bytes"
        raise bad(f"its data {state}")
    return header


PICKLE_FIX = Fix("allow_pickle", "or pass {option} if you trust it (it is then read with weights_only=True)")


def pickle_refused(path: Path, argument: str = "model") -> ModelLoadError:
    """The error for a pickle file met without permission to read it."""
    return ModelLoadError(f"{path} is a pickle file, which can run code when loaded; convert it to .safetensors",
                          argument=argument, fix=PICKLE_FIX)


def load_state_dict(path: Path, allow_pickle: bool = False, argument: str = "model") -> dict:
    """Tensors of a checkpoint file: safetensors always; pickle only with `allow_pickle`, and then weights only.

    A pickle that holds anything but tensors and plain containers (code, objects) is refused, never run."""
    kind = detect_format(path)
    if kind is FileFormat.safetensors:
        from safetensors.torch import load_file

        safetensors_header(path, argument)
        return load_file(str(path))
    if kind not in (FileFormat.torch_zip, FileFormat.pickle):
        raise ModelLoadError(f"{path} is not a file sdlab can read (found {kind.value}; expected safetensors)",
                             argument=argument)
    if not allow_pickle:
        raise pickle_refused(path, argument)
    import pickle

    import torch

    try:
        with open(path, "rb") as handle:  # a handle, so torch cannot pick a reader by the file's name
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelLoadError(f"{path} holds code or Python objects besides tensors; refused (sdlab reads only tensors "
                             "from pickle files, even with --allow-pickle)", argument=argument) from None
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError, IndexError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ModelLoadError(f"{path} is a corrupt or truncated pickle file ({detail})", argument=argument) from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path} holds no tensors by name (found {type(state).__name__})", argument=argument)
    return state


def file_hashes(path: Path) -> tuple[str, str]:
    """(A1111's short "Model hash" = first 10 hex of the file's SHA-256, full SHA-256)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    full = digest.hexdigest()
    return full[:10], full
