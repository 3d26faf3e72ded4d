"""World 2's scenes: one to three flat objects on a flat background, at 128x128, drawn deterministically.

Objects never touch (so the judge can tell them apart); a scene's objects sit in distinct ninths of the
image, their centres clear of the lines between ninths, and a shape never sits in a ninth that
HELD_OUT_PLACES keeps from it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from sdlab.world.render import position_of as _ninth_of, shape_polygon
from sdlab.world2.palette import (
    BACKGROUND_COLOURS, BASE_SHAPES, HELD_OUT_PAIRS, HELD_OUT_PLACES, IMAGE_SIZE, OBJECT_COLOURS, POSITIONS,
    SIZE_THRESHOLD, SIZES,
)

SUPERSAMPLE = 4
GAP = 4.0  # the least distance, in pixels, between two objects' outlines (as circles)
THIRD = IMAGE_SIZE / 3
CLEAR = 4.0  # an object's centre stays this far from the lines between ninths, so its position is plain


@dataclass(frozen=True)
class Thing:
    """One object: `colour` `shape` centred at (cx, cy) with half-extent `half` (pixels at 128x128)."""

    shape: str
    colour: str
    cx: float
    cy: float
    half: float

    @property
    def size(self) -> str:
        return "small" if self.half < SIZE_THRESHOLD else "large"

    @property
    def position(self) -> str:
        return position_of(self.cx, self.cy)


@dataclass(frozen=True)
class Scene:
    things: tuple[Thing, ...]
    background: str


def position_of(cx: float, cy: float, extent: int = IMAGE_SIZE) -> str:
    """The ninth of the image ("top left" ... "bottom right") holding the point (cx, cy): world 1's ninths."""
    return _ninth_of(cx, cy, extent)


def sample_scene(rng: random.Random, count: int | None = None, shapes: tuple[str, ...] = BASE_SHAPES,
                 colours: tuple[str, ...] | None = None, backgrounds: tuple[str, ...] | None = None,
                 held_out_pairs: frozenset = HELD_OUT_PAIRS, held_out_places: frozenset = HELD_OUT_PLACES) -> Scene:
    """A random scene of `count` objects (1-3, random when None) with distinct (colour, shape) pairs."""
    count = count or rng.choice((1, 1, 2, 3))
    colours = colours or tuple(OBJECT_COLOURS)
    background = rng.choice(backgrounds or tuple(BACKGROUND_COLOURS))
    while True:
        things: list[Thing] = []
        cells = rng.sample(range(9), count)
        for cell in cells:
            pairs = [(c, s) for c in colours for s in shapes
                     if (c, s) not in held_out_pairs and (s, POSITIONS[cell]) not in held_out_places
                     and all((c, s) != (t.colour, t.shape) for t in things)]
            if not pairs:
                break
            colour, shape = rng.choice(pairs)
            lo, hi = SIZES[rng.choice(tuple(SIZES))]
            half = rng.uniform(lo, hi)
            row, col = divmod(cell, 3)
            margin = half + 1
            cx = min(max(rng.uniform(col * THIRD, (col + 1) * THIRD), margin), IMAGE_SIZE - margin)
            cy = min(max(rng.uniform(row * THIRD, (row + 1) * THIRD), margin), IMAGE_SIZE - margin)
            thing = Thing(shape, colour, cx, cy, half)
            if thing.position != POSITIONS[cell] or _near_a_border(cx) or _near_a_border(cy) or any(
                    math.dist((t.cx, t.cy), (cx, cy)) < (t.half + half) * math.sqrt(2) + GAP for t in things):
                break
            things.append(thing)
        if len(things) == count:
            return Scene(tuple(things), background)


def _near_a_border(coordinate: float) -> bool:
    return min(abs(coordinate - THIRD), abs(coordinate - 2 * THIRD)) < CLEAR


def outline(shape: str, cx: float, cy: float, half: float) -> list[tuple[float, float]]:
    """The vertices of `shape` centred at (cx, cy), `half` from the centre to its bounding box's edge."""
    if shape == "circle":
        return [(cx + half * math.cos(a), cy + half * math.sin(a)) for a in (k * math.pi / 64 for k in range(128))]
    if shape == "cross":
        a = half / 3  # arms a third of the extent wide
        return [(cx - a, cy - half), (cx + a, cy - half), (cx + a, cy - a), (cx + half, cy - a), (cx + half, cy + a),
                (cx + a, cy + a), (cx + a, cy + half), (cx - a, cy + half), (cx - a, cy + a), (cx - half, cy + a),
                (cx - half, cy - a), (cx - a, cy - a)]
    if shape == "heart":  # the classic parametric heart, scaled to the box
        points = []
        for k in range(96):
            t = 2 * math.pi * k / 96
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            points.append((cx + half * x / 16, cy - half * (y + 2.5) / 14.5))
        return points
    return shape_polygon(shape, cx, cy, half)  # square, triangle and star are world 1's


def render(scene: Scene, size: int = IMAGE_SIZE) -> Image.Image:
    """`scene` as an anti-aliased RGB image of `size` x `size` pixels."""
    scale = SUPERSAMPLE * size / IMAGE_SIZE
    big = Image.new("RGB", (round(size * SUPERSAMPLE),) * 2, BACKGROUND_COLOURS[scene.background])
    draw = ImageDraw.Draw(big)
    for thing in scene.things:
        points = outline(thing.shape, thing.cx * scale, thing.cy * scale, thing.half * scale)
        draw.polygon(points, fill=OBJECT_COLOURS[thing.colour])
    return big.resize((size, size), Image.Resampling.BOX)
