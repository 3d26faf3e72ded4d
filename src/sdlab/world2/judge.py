"""World 2's judge: every object in an image (colour, shape, size, position) and whether a caption holds.

Objects are the connected regions far from the background colour. A shape is told by its solidity
(area / convex hull: a star or a cross is concave, and a cross looks the same turned a quarter), then
by how much of its box it fills (triangle or heart, circle, square), and a heart from a triangle by
where its mass lies (a heart's lobes are at the top, a triangle's base at the bottom).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np
from PIL import Image

from sdlab.world.judge import _hull_area, foreground, object_colour
from sdlab.world2.captions import Caption, Wanted, parse
from sdlab.world2.palette import IMAGE_SIZE, SIZE_THRESHOLD
from sdlab.world2.scenes import position_of

MIN_OBJECT_PIXELS = 24  # fewest pixels (at 128x128) for a region to count as an object
CONCAVE_SOLIDITY = 0.82  # below: a star or a cross
CROSS_SYMMETRY = 0.67  # a concave shape this like itself turned a quarter (IoU) is a cross; a star is not
TRIANGLE_OR_HEART_FILL = 0.70  # below: a triangle or a heart
CIRCLE_FILL = 0.90  # below: a circle; above: a square
CROSS_FILL = 0.665  # a convex-looking shape, neither heart nor triangle, filling less than this is a small cross
HEART_TOP = 0.61  # a heart has more than this share of its area in the top half of its box (a cross about half)
TRIANGLE_TOP = 0.39  # a triangle less than this


@dataclass(frozen=True)
class Seen:
    colour: str
    shape: str
    size: str
    position: str
    pixels: int

    def fits(self, wanted: Wanted) -> bool:
        return (self.colour, self.shape) == (wanted.colour, wanted.shape) and \
            wanted.size in (None, self.size) and wanted.position in (None, self.position)


@dataclass(frozen=True)
class Verdict:
    background: str
    objects: tuple[Seen, ...]
    stray_pixels: int  # far-from-background pixels in regions too small to be objects

    def matches(self, wanted: Caption | str) -> bool:
        """Exactly the caption's objects, each as described (size and position where it says), on its background."""
        wanted = parse(wanted) if isinstance(wanted, str) else wanted
        if self.background != wanted.background or len(self.objects) != len(wanted.objects):
            return False
        return any(all(seen.fits(w) for seen, w in zip(order, wanted.objects))
                   for order in permutations(self.objects))


def _regions(mask: np.ndarray) -> list[np.ndarray]:
    """The 4-connected regions of a boolean mask, as boolean masks, largest first."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    regions = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if labels[y0, x0]:
            continue
        label = len(regions) + 1
        labels[y0, x0] = label
        stack = [(y0, x0)]
        while stack:
            y, x = stack.pop()
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = label
                    stack.append((ny, nx))
        regions.append(labels == label)
    return sorted(regions, key=lambda r: -int(r.sum()))


def _quarter_turn_likeness(box: np.ndarray) -> float:
    """IoU of a shape's box with itself turned 90 degrees: 1 for a cross, about 0.55 for a five-pointed star."""
    side = max(box.shape)
    square = np.zeros((side, side), dtype=bool)
    square[:box.shape[0], :box.shape[1]] = box
    turned = np.rot90(square)
    return float((square & turned).sum()) / float((square | turned).sum())


def _shape(region: np.ndarray) -> str:
    ys, xs = np.nonzero(region)
    area = float(region.sum())
    top, bottom = ys.min(), ys.max()
    solidity = area / _hull_area(ys, xs)
    fill = area / float((xs.max() - xs.min() + 1) * (bottom - top + 1))
    if solidity < CONCAVE_SOLIDITY:
        likeness = _quarter_turn_likeness(region[top:bottom + 1, xs.min():xs.max() + 1])
        return "cross" if likeness > CROSS_SYMMETRY else "star"
    upper = float((ys < (top + bottom + 1) / 2).sum()) / area  # heart about 0.7, circle and cross 0.5, triangle 0.3
    if fill >= CIRCLE_FILL:
        return "square"
    if upper > HEART_TOP:  # also a small heart whose blurred notch and point make it fill its box like a circle
        return "heart"
    if upper < TRIANGLE_TOP and fill < TRIANGLE_OR_HEART_FILL:
        return "triangle"
    return "cross" if fill < CROSS_FILL else "circle"  # a small cross whose blurred arms hide its concavity


def judge(image: Image.Image) -> Verdict:
    """The background and every object of a world-2 image."""
    pixels, background, far = foreground(image, IMAGE_SIZE)
    objects, stray = [], 0
    for region in _regions(far):
        area = int(region.sum())
        if area < MIN_OBJECT_PIXELS:
            stray += area
            continue
        colour = object_colour(pixels, region)
        ys, xs = np.nonzero(region)
        half = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / 2
        position = position_of((xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2)
        objects.append(Seen(colour, _shape(region), "small" if half < SIZE_THRESHOLD else "large", position, area))
    return Verdict(background, tuple(objects), stray)
