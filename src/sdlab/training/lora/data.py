"""LoRA training data: images with captions, kohya's repeat folders, and aspect-ratio buckets.

A data folder holds images with same-name caption files (`.txt`, or `.caption`), or images
and one instance prompt for all. kohya's layout is understood too: sub-folders named
`N_name` (e.g. `10_sks star`) repeat their images N times per epoch. Images of any size are
put in the bucket whose aspect ratio is closest to theirs, resized to cover it and
centre-cropped: never stretched.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from sdlab.engine.images import open_image
from sdlab.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
CAPTION_SUFFIXES = (".txt", ".caption")
MAX_CAPTION_BYTES = 100_000
_REPEAT_FOLDER = re.compile(r"^(\d+)_(.+)$")


@dataclass(frozen=True)
class Example:
    path: Path
    caption: str
    repeats: int
    size: tuple[int, int]  # width, height of the original image


def _caption(image: Path, argument: str) -> str | None:
    for suffix in CAPTION_SUFFIXES:
        candidate = image.with_suffix(suffix)
        if candidate.is_file():
            if candidate.stat().st_size > MAX_CAPTION_BYTES:
                raise UsageError(argument, f"{candidate} is over {MAX_CAPTION_BYTES // 1000} kB; a caption is a line of text")
            try:
                return candidate.read_text(encoding="utf-8").strip()
            except UnicodeDecodeError:
                raise UsageError(argument, f"{candidate} is not UTF-8 text") from None
    return None


def scan(folder: Path, instance_prompt: str | None = None, argument: str = "data") -> tuple[list[Example], list[str]]:
    """The examples of a data folder and warnings (skipped files); a clear error when nothing usable remains."""
    if not folder.is_dir():
        raise UsageError(argument, f"{folder} is not a folder")
    groups = [(int(m.group(1)), sub) for sub in sorted(folder.iterdir())
              if sub.is_dir() and (m := _REPEAT_FOLDER.match(sub.name))]
    if not groups:
        groups = [(1, folder)]
    examples, warnings, uncaptioned = [], [], []
    for repeats, where in groups:
        for image_path in sorted(p for p in where.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                size = open_image(image_path, argument).size
            except UsageError as exc:
                warnings.append(f"{argument}: skipped {image_path.name}: {exc.message}")
                continue
            caption = _caption(image_path, argument) or instance_prompt
            if caption is None:
                uncaptioned.append(image_path.name)
                continue
            examples.append(Example(image_path, caption, repeats, size))
    if uncaptioned:
        shown = ", ".join(uncaptioned[:5]) + (f" and {len(uncaptioned) - 5} more" if len(uncaptioned) > 5 else "")
        raise UsageError(argument, f"no caption for {shown}: add same-name .txt/.caption files or give --instance-prompt")
    if not examples:
        raise UsageError(argument, f"no readable images (PNG, JPEG, WEBP) in {folder}" + (f" ({len(warnings)} skipped)" if warnings else ""))
    return examples, warnings


def buckets(resolution: int, step: int = 64, max_ratio: float = 2.0) -> list[tuple[int, int]]:
    """(width, height) sizes, multiples of `step`, with area at most resolution² and aspect within max_ratio."""
    out = set()
    for width in range(step, resolution * 2 + 1, step):
        height = (resolution * resolution // width) // step * step
        if height >= step and max(width / height, height / width) <= max_ratio:
            out.add((width, height))
    return sorted(out)


def bucket_for(size: tuple[int, int], choices: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is nearest the image's (on a log scale)."""
    ratio = math.log(size[0] / size[1])
    return min(choices, key=lambda b: (abs(math.log(b[0] / b[1]) - ratio), -b[0] * b[1]))


def load(example: Example, bucket: tuple[int, int], flip: bool = False) -> Image.Image:
    """The example's image resized to cover `bucket` and centre-cropped to it (no stretching), maybe mirrored."""
    image = open_image(example.path, "data").convert("RGB")
    fitted = ImageOps.fit(image, bucket, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    return ImageOps.mirror(fitted) if flip else fitted
