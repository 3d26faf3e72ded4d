"""Writing files so that a crash never leaves half a file, and nothing is replaced unless asked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sdlab.errors import UsageError


def write_bytes(path: Path, data: bytes, overwrite: bool = False, argument: str = "output") -> Path:
    """Write `data` to `path` through a temp file in the same folder, then rename (or hard-link when not overwriting)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic, and fails if the name is taken
            except FileExistsError:
                raise UsageError(argument, f"{path} exists; pass --overwrite to replace it or choose another name") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
