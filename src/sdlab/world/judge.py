"""The judge: reads an image of the synthetic world and says what is in it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from sdlab.world.palette import BACKGROUND_COLOURS, IMAGE_SIZE, OBJECT_COLOURS, SIZE_THRESHOLD
from sdlab.world.render import position_of

#: Colour distance (RGB, 0-255) beyond which a pixel is not background.
OBJECT_DISTANCE = 60.0
#: Fewest object pixels (at 64x64) for an object to count as present.
MIN_OBJECT_PIXELS = 12
#: Solidity (object area / convex-hull area) below which a shape is a star.
STAR_SOLIDITY = 0.8
#: Fill ratio (object area / bounding-box area) boundaries between convex shapes.
SHAPE_BOUNDS = ((0.64, "triangle"), (0.89, "circle"))


@dataclass(frozen=True)
class Verdict:
    """What the judge sees; `shape` is None when no object is found."""

    background: str
    colour: str | None
    shape: str | None
    size: str | None
    position: str | None
    fill: float
    solidity: float
    stray_pixels: int
    objects: int = 1

    def matches(self, colour: str, shape: str, background: str) -> bool:
        """One object, of this colour and shape, on this background."""
        return self.objects == 1 and (self.colour, self.shape, self.background) == (colour, shape, background)


def _nearest(rgb: np.ndarray, palette) -> str:
    names = list(palette)
    table = np.array([palette[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((table - rgb) ** 2).sum(axis=1)))]


def _components(mask: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The largest 4-connected component of a boolean mask, and the sizes of all components."""
    h, w = mask.shape
    labels = np.zeros((h, w), dtype=np.int32)
    best, best_size, current, sizes = 0, 0, 0, []
    for y0, x0 in zip(*np.nonzero(mask)):
        if labels[y0, x0]:
            continue
        current += 1
        labels[y0, x0] = current
        stack, size = [(y0, x0)], 0
        while stack:
            y, x = stack.pop()
            size += 1
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = current
                    stack.append((ny, nx))
        sizes.append(size)
        if size > best_size:
            best, best_size = current, size
    return (labels == best if best else np.zeros_like(mask)), sizes


def _hull_area(ys: np.ndarray, xs: np.ndarray) -> float:
    """Area of the convex hull of the pixel squares at (ys, xs) (monotone chain, shoelace)."""
    corners = {(x + dx, y + dy) for x, y in zip(xs.tolist(), ys.tolist()) for dx in (0, 1) for dy in (0, 1)}
    points = sorted(corners)

    def half_hull(seq):
        hull: list[tuple[int, int]] = []
        for p in seq:
            while len(hull) >= 2 and ((hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1])
                                      - (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0])) <= 0:
                hull.pop()
            hull.append(p)
        return hull[:-1]

    hull = half_hull(points) + half_hull(points[::-1])
    return 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(hull, hull[1:] + hull[:1])))


def background_of(pixels: np.ndarray) -> tuple[str, np.ndarray]:
    """The background colour's name (the majority of a 2-pixel border) and its measured RGB."""
    border = np.concatenate([pixels[:2].reshape(-1, 3), pixels[-2:].reshape(-1, 3),
                             pixels[:, :2].reshape(-1, 3), pixels[:, -2:].reshape(-1, 3)])
    votes = [_nearest(p, BACKGROUND_COLOURS) for p in border]
    background = max(set(votes), key=votes.count)
    return background, np.median(border[[v == background for v in votes]], axis=0)


def object_colour(pixels: np.ndarray, region: np.ndarray) -> str:
    """The palette colour of a region: the median of its core pixels (all four neighbours inside; edges are
    blended with the background), or of all its pixels when it is too thin to have a core."""
    core = region.copy()
    core[1:] &= region[:-1]
    core[:-1] &= region[1:]
    core[:, 1:] &= region[:, :-1]
    core[:, :-1] &= region[:, 1:]
    return _nearest(np.median(pixels[core] if core.sum() >= 4 else pixels[region], axis=0), OBJECT_COLOURS)


def foreground(image: Image.Image, size: int) -> tuple[np.ndarray, str, np.ndarray]:
    """An image at the world's `size` as float RGB pixels, its background's name, and the mask of pixels far
    from the background colour (where objects are)."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BOX)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    background, bg_rgb = background_of(pixels)
    return pixels, background, np.sqrt(((pixels - bg_rgb) ** 2).sum(axis=2)) > OBJECT_DISTANCE


def judge(image: Image.Image) -> Verdict:
    """Background colour, object colour, shape, size and position of a world image."""
    pixels, background, far = foreground(image, IMAGE_SIZE)
    obj, sizes = _components(far)
    objects = sum(size >= MIN_OBJECT_PIXELS for size in sizes)
    stray = int(far.sum() - obj.sum())
    area = int(obj.sum())
    if area < MIN_OBJECT_PIXELS:
        return Verdict(background, None, None, None, None, 0.0, 0.0, stray, objects)

    ys, xs = np.nonzero(obj)
    colour = object_colour(pixels, obj)

    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    fill = area / float(width * height)
    solidity = area / _hull_area(ys, xs)
    if solidity < STAR_SOLIDITY:
        shape = "star"
    else:
        shape = next((name for bound, name in SHAPE_BOUNDS if fill < bound), "square")
    half = max(width, height) / 2
    size = "small" if half < SIZE_THRESHOLD else "large"
    position = position_of((xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2, IMAGE_SIZE)
    return Verdict(background, colour, shape, size, position, fill, solidity, stray, objects)
