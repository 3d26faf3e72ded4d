"""Reading input images safely: a format allowlist, a pixel limit checked before decoding, EXIF orientation.

Pillow only warns about images between its limit and twice its limit; sdlab refuses anything
over `MAX_INPUT_PIXELS` (the largest image a request may ask for, 8192 x 8192) before a pixel
is decoded, whatever the file's size on disk, so memory stays bounded by what a request allows.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps

from sdlab.errors import UsageError

#: Formats sdlab opens; Pillow detects the format from the bytes, not the extension (its JPEG reader also
#: opens cameras' multi-picture JPEGs).
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
#: The most pixels an input may have: the largest image a request can ask for.
MAX_INPUT_PIXELS = 8192 * 8192


def open_image(source, argument: str = "image") -> Image.Image:
    """Open a path, PNG/JPEG/WEBP bytes or a PIL image as a fully loaded RGB, RGBA, L or LA image, upright per
    its EXIF orientation."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        return _decode(io.BytesIO(source), "the image", argument)
    path = Path(source)
    if not path.is_file():
        raise UsageError(argument, f"{path} does not exist or is not a file")
    return _decode(path, str(path), argument)


def _decode(source, name: str, argument: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=ALLOWED_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_INPUT_PIXELS:
                    raise UsageError(argument, f"{name} is {width}x{height} pixels, too large to open safely; "
                                     f"at most {MAX_INPUT_PIXELS // 1_000_000} million pixels (8192x8192)")
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                if upright.mode in ("RGB", "RGBA", "L", "LA"):
                    return upright.copy()
                return upright.convert("RGBA" if "A" in upright.getbands() or "transparency" in upright.info else "RGB")
    except UsageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UsageError(argument, f"{name} is too large to open safely; at most "
                         f"{MAX_INPUT_PIXELS // 1_000_000} million pixels (8192x8192)") from None
    except Image.UnidentifiedImageError:
        raise UsageError(argument, f"{name} is not a readable PNG, JPEG or WEBP image (unknown or disallowed "
                         "format)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, MemoryError) as exc:
        # Pillow's decoders raise these for truncated or malformed files (MemoryError: absurd header values).
        raise UsageError(argument, f"{name} is not a readable PNG, JPEG or WEBP image "
                         f"({exc.__class__.__name__}: {str(exc).strip()[:80]})") from None


def read_parameters(path: Path, argument: str = "image") -> str | None:
    """The A1111 `parameters` text of a PNG (or EXIF UserComment of a JPEG/WEBP), if any."""
    image = open_image(path, argument)
    text = image.info.get("parameters")
    if text is None and image.getexif():
        comment = image.getexif().get_ifd(0x8769).get(0x9286)
        if isinstance(comment, bytes):
            text = comment[8:].decode("utf-16-be" if comment.startswith(b"UNICODE") else "utf-8", "ignore").strip("\x00")
        elif isinstance(comment, str):
            text = comment
    return text if isinstance(text, str) else None
