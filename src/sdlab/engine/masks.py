"""Inpainting masks: reading, blurring, the "only masked" crop, and pasting results back."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def mask_from_image(mask: Image.Image) -> Image.Image:
    """A greyscale mask, white = regenerate. A mask with some transparency uses its alpha (opaque = regenerate), as
    A1111 does; a fully opaque RGBA mask (what a browser's canvas exports) is read by its colours like any other."""
    if mask.mode in ("RGBA", "LA") and mask.getchannel("A").getextrema()[0] < 255:
        return mask.getchannel("A")
    return mask.convert("L")


def blur(mask: Image.Image, radius: int) -> Image.Image:
    """Soften the mask edge by a Gaussian blur of `radius` pixels (0 = hard edge)."""
    return mask.filter(ImageFilter.GaussianBlur(radius)) if radius > 0 else mask


def masked_box(mask: Image.Image, padding: int, aspect: float) -> tuple[int, int, int, int] | None:
    """The mask's bounding box grown by `padding` and widened to `aspect` (w / h), kept inside the image."""
    box = mask.point(lambda v: 255 if v > 0 else 0).getbbox()
    if box is None:
        return None
    width, height = mask.size
    x0, y0, x1, y1 = box[0] - padding, box[1] - padding, box[2] + padding, box[3] + padding
    w, h = x1 - x0, y1 - y0
    if w / h < aspect:
        grow = aspect * h - w
        x0, x1 = x0 - grow / 2, x1 + grow / 2
    else:
        grow = w / aspect - h
        y0, y1 = y0 - grow / 2, y1 + grow / 2
    w, h = min(width, x1 - x0), min(height, y1 - y0)
    x0 = min(max(0, x0), width - w)
    y0 = min(max(0, y0), height - h)
    return int(round(x0)), int(round(y0)), int(round(x0 + w)), int(round(y0 + h))


def composite(original: Image.Image, generated: Image.Image, soft_mask: Image.Image) -> Image.Image:
    """Generated pixels where the mask is white, original pixels where it is black, blended in between."""
    o = np.asarray(original.convert("RGB"), dtype=np.float32)
    g = np.asarray(generated.convert("RGB").resize(original.size, Image.Resampling.LANCZOS), dtype=np.float32)
    m = np.asarray(soft_mask.resize(original.size), dtype=np.float32)[..., None] / 255.0
    return Image.fromarray(np.clip(np.rint(o * (1 - m) + g * m), 0, 255).astype(np.uint8))
