"""Writing files so that a crash never leaves half a file, and nothing is replaced unless asked.

Data goes to a hidden temporary file in the destination folder, created with the usual
permissions (0666 less the umask, like any file a program writes), is flushed to disk, then
renamed into place, or hard-linked when an existing file must not be replaced. The temporary
name carries the writer's process id, so what a process killed mid-write left behind is
recognised and removed later (`remove_stale_temporaries`). A write that fails (read-only
folder, full disk) raises OutputError naming the file and the reason.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path

from sdlab.errors import Fix, OutputError, UsageError

OVERWRITE_FIX = Fix("overwrite", "pass {option} to replace it, or choose another name")
_TEMPORARY = re.compile(r"^\..+\.sdlab-(\d+)-[0-9a-f]{8}\.tmp$")


def os_reason(exc: OSError) -> str:
    """An OSError as a few words ("no space left on device")."""
    if exc.errno == errno.EFBIG:
        return "file too large (disk quota or file size limit reached)"
    return (exc.strerror or exc.__class__.__name__).lower()


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.sdlab-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_bytes(path: Path, data: bytes, overwrite: bool = False, argument: str = "output") -> Path:
    """Write `data` to `path` through a temporary file in the same folder, then rename (or hard-link when not
    overwriting, which fails if the name is taken). Folders are created as needed."""
    tmp = _temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if overwrite:
                if path.is_dir():
                    raise OutputError(f"{path} is a folder; give a file name", argument)
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise UsageError(argument, f"{path} exists", fix=OVERWRITE_FIX) from None
        finally:
            if tmp.exists():
                tmp.unlink()
    except OSError as exc:
        raise OutputError(f"could not write {path}: {os_reason(exc)}", argument) from None
    return path


def make_folder(path: Path, argument: str = "output") -> Path:
    """Create `path` (and its parents) as a folder; OutputError naming the reason when it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"could not create the folder {path}: {os_reason(exc)}", argument) from None
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> int:
    """Remove temporary files that sdlab processes no longer running left in `folder`; how many were removed."""
    removed = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            try:
                entry.unlink()
                removed += 1
            except OSError:
                pass
    return removed
