"""Reading images safely and writing PNGs atomically, never overwriting unless asked."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, PngImagePlugin

from sdlab.atomic import write_bytes
from sdlab.errors import UsageError

#: Formats sdlab opens; Pillow detects the format from the bytes, not the extension.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")


def open_image(source, argument: str = "image") -> Image.Image:
    """Open a path or PIL image as a fully loaded image, with Pillow's decompression-bomb limit on."""
    if isinstance(source, Image.Image):
        return source
    path = Path(source)
    if not path.is_file():
        raise UsageError(argument, f"{path} does not exist or is not a file")
    try:
        with Image.open(path, formats=ALLOWED_FORMATS) as image:
            image.load()
            return image.copy() if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGBA" if "A" in image.getbands() else "RGB")
    except Image.DecompressionBombError as exc:
        raise UsageError(argument, f"{path} is too large to open safely ({exc}); at most {Image.MAX_IMAGE_PIXELS} pixels") from None
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UsageError(argument, f"{path} is not a readable PNG, JPEG or WEBP image ({exc.__class__.__name__})") from None


def read_parameters(path: Path) -> str | None:
    """The A1111 `parameters` text of a PNG (or EXIF UserComment of a JPEG/WEBP), if any."""
    image = open_image(path, "image")
    text = image.info.get("parameters")
    if text is None and image.getexif():
        comment = image.getexif().get_ifd(0x8769).get(0x9286)
        if isinstance(comment, bytes):
            text = comment[8:].decode("utf-16-be" if comment.startswith(b"UNICODE") else "utf-8", "ignore").strip("\x00")
        elif isinstance(comment, str):
            text = comment
    return text


def save_png(image: Image.Image, path: Path, parameters: str | None = None, overwrite: bool = False) -> Path:
    """Write `image` as a PNG at `path` atomically; refuse to replace an existing file unless `overwrite`."""
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return write_bytes(path, buffer.getvalue(), overwrite=overwrite)


def next_free_path(folder: Path, seed: int, suffix: str = ".png") -> Path:
    """A1111-style `NNNNN-SEED.png` in `folder`, numbered after the highest existing index."""
    highest = -1
    if folder.is_dir():
        for entry in folder.iterdir():
            head = entry.name.split("-", 1)[0]
            if head.isdigit():
                highest = max(highest, int(head))
    return folder / f"{highest + 1:05d}-{seed}{suffix}"


def save_numbered(image: Image.Image, folder: Path, seed: int, parameters: str | None) -> Path:
    """Save under the next free number; a name taken meanwhile (another process) moves on to the next."""
    for _ in range(1000):
        try:
            return save_png(image, next_free_path(folder, seed), parameters)
        except UsageError:
            continue
    raise UsageError("output", f"could not find a free file name in {folder}")
