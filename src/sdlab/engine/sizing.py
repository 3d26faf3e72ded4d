"""The size an image-to-image or inpainting request works at, and bringing its inputs to that size.

Without a width and height the input's own size is kept (rounded down to a multiple of 8), up
to twice the model's native side (four times its area); a larger input is scaled down to that
area, keeping its aspect, so a 3000x2000 photo never runs at full size unasked. With a width
and height the input is brought to them by A1111's resize modes: stretched ("resize"),
cropped to cover ("crop"), or fitted inside with the margins filled from its edges ("fill").
"""

from __future__ import annotations

import math

from PIL import Image, ImageFilter, ImageOps

from sdlab.requests.generation import ResizeMode

#: How much larger than the model's native side an input may be before it is scaled down.
INPUT_SIDE_FACTOR = 2


def _multiple_of_8(value: float) -> int:
    return max(8, int(value) // 8 * 8)


def largest_unasked(native: int) -> int:
    """The most pixels an input is worked at when the request gives no size: (INPUT_SIDE_FACTOR x native)²."""
    return (INPUT_SIDE_FACTOR * native) ** 2


def working_size(size: tuple[int, int], native: int, width: int | None = None,
                 height: int | None = None) -> tuple[int, int]:
    """(width, height) for an input of `size`: the request's, the other side from the input's aspect when only
    one is given, else the input's own size, scaled down to `largest_unasked(native)` pixels when larger."""
    aspect = size[0] / size[1]
    if width is not None and height is not None:
        return width, height
    if width is not None:
        return width, min(8192, _multiple_of_8(width / aspect))
    if height is not None:
        return min(8192, _multiple_of_8(height * aspect)), height
    scale = min(1.0, math.sqrt(largest_unasked(native) / (size[0] * size[1])))
    return _multiple_of_8(size[0] * scale), _multiple_of_8(size[1] * scale)


def fit(image: Image.Image, size: tuple[int, int], mode: ResizeMode) -> Image.Image:
    """`image` brought to `size` by `mode` (unchanged when it already has that size)."""
    if image.size == size:
        return image
    if mode is ResizeMode.crop:
        return ImageOps.fit(image, size, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    if mode is ResizeMode.fill:
        inside = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
        canvas = image.resize(size, Image.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(max(size) / 16))
        canvas.paste(inside, ((size[0] - inside.width) // 2, (size[1] - inside.height) // 2))
        return canvas
    return image.resize(size, Image.Resampling.LANCZOS)


def describe_fit(argument: str, original: tuple[int, int], size: tuple[int, int], mode: ResizeMode,
                 native: int, asked: bool) -> str | None:
    """What was done to an input, for the result's warnings (None when nothing was)."""
    if original == size:
        return None
    if asked:
        how = f"resize mode {mode.value}" + (": stretched; crop and fill keep the aspect" if mode is ResizeMode.resize else "")
    elif original[0] * original[1] > largest_unasked(native):
        limit = INPUT_SIDE_FACTOR * native
        how = f"scaled to at most {limit}x{limit} pixels, aspect kept, as no width or height was given"
    else:
        how = "rounded down to multiples of 8"
    return f"{argument}: resized from {original[0]}x{original[1]} to {size[0]}x{size[1]} ({how})"
