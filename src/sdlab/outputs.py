"""Where results go: PNG bytes with their metadata, output names, and destinations checked before any work.

Every front end writes through here. `image_outputs` checks an `-o` destination (a folder for
numbered `NNNNN-SEED.png` names, or a `.png` name) before anything is generated, so a run never
does its work and then fails to save it; `check_folder` and `check_new_file` do the same for
sweeps, exercises and training.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, PngImagePlugin

from sdlab.atomic import OVERWRITE_FIX, os_reason, remove_stale_temporaries, write_bytes
from sdlab.errors import UsageError

#: Image file endings sdlab does not write (it keeps the metadata in PNG text chunks).
OTHER_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic")
_NUMBERED = re.compile(r"^([0-9]+)-")


def png_bytes(image: Image.Image, parameters: str | None = None) -> bytes:
    """`image` as PNG bytes, with A1111's `parameters` text chunk when given."""
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_png(image: Image.Image, path: Path, parameters: str | None = None, overwrite: bool = False,
             argument: str = "output") -> Path:
    """Write `image` as a PNG at `path` atomically; refuse to replace an existing file unless `overwrite`."""
    return write_bytes(path, png_bytes(image, parameters), overwrite=overwrite, argument=argument)


def next_free_path(folder: Path, seed: int, suffix: str = ".png") -> Path:
    """A1111-style `NNNNN-SEED.png` in `folder`, numbered after the highest existing index."""
    highest = -1
    if folder.is_dir():
        for entry in folder.iterdir():
            match = _NUMBERED.match(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
    return folder / f"{highest + 1:05d}-{seed}{suffix}"


def save_numbered(image: Image.Image, folder: Path, seed: int, parameters: str | None,
                  argument: str = "output") -> Path:
    """Save under the next free number; a name taken meanwhile (another process) moves on to the next."""
    for _ in range(1000):
        try:
            return save_png(image, next_free_path(folder, seed), parameters, argument=argument)
        except UsageError:
            continue
    raise UsageError(argument, f"could not find a free file name in {folder}")


def check_folder(path: Path, argument: str = "output") -> Path:
    """Check that `path` is, or can be made, a folder sdlab can write in, without creating it.

    Also removes what killed sdlab processes left half-written there."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise UsageError(argument, f"{existing} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        if existing == path:
            raise UsageError(argument, f"{path} is not a folder")
        raise UsageError(argument, f"{path} cannot be created: {existing} is not a folder")
    try:  # the only reliable test (root ignores permission bits; a read-only mount does not)
        with tempfile.TemporaryFile(dir=existing, prefix=".sdlab-probe-"):
            pass
    except OSError as exc:
        raise UsageError(argument, f"cannot write in {existing}: {os_reason(exc)}") from None
    if existing == path:
        remove_stale_temporaries(path)
    return path


def check_new_file(path: Path, overwrite: bool, argument: str = "output") -> Path:
    """Check that a file can be written at `path`: free (or `overwrite`), a regular file if present, its folder writable."""
    if path.is_dir():
        raise UsageError(argument, f"{path} is a folder; give a file name")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise UsageError(argument, f"{path} exists and is not a regular file")
        if not overwrite:
            raise UsageError(argument, f"{path} exists", fix=OVERWRITE_FIX)
    check_folder(path.parent if str(path.parent) else Path("."), argument)
    return path


@dataclass(frozen=True)
class ImageOutputs:
    """Where a request's images go: numbered names in `folder`, or the given `files`."""

    folder: Path | None
    files: tuple[Path, ...] = ()
    overwrite: bool = False

    def save(self, index: int, image: Image.Image, seed: int, parameters: str | None) -> Path:
        if self.folder is not None:
            return save_numbered(image, self.folder, seed, parameters)
        return save_png(image, self.files[index], parameters, overwrite=self.overwrite)


def image_outputs(path: Path, count: int, overwrite: bool = False, argument: str = "output") -> ImageOutputs:
    """Check an image destination for `count` images before any work: a `.png` name (`name-0.png`, `name-1.png`,
    ... for several) or a folder for numbered names. Nothing is created yet."""
    suffix = path.suffix.lower()
    if suffix in OTHER_IMAGE_SUFFIXES:
        raise UsageError(argument, f"{path}: sdlab writes PNG files (their metadata lives in PNG text); "
                         "give a name ending in .png or a folder")
    if suffix != ".png":
        if path.exists() and not path.is_dir():
            raise UsageError(argument, f"{path} exists and is not a folder; give a folder or a name ending in .png")
        return ImageOutputs(check_folder(path, argument))
    files = (path,) if count == 1 else tuple(path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(count))
    for file in files:
        check_new_file(file, overwrite, argument)
    return ImageOutputs(None, files, overwrite)


def fresh_folder(parent: Path, prefix: str) -> Path:
    """A new, empty, uniquely named folder in `parent` with the usual permissions (0777 less the umask)."""
    for _ in range(100):
        candidate = parent / f"{prefix}{os.getpid()}-{os.urandom(4).hex()}"
        try:
            os.mkdir(candidate, 0o777)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary folder name in {parent}")
