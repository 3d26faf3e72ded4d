"""A deterministic renderer of captioned scenes: one flat shape on a flat background."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from sdlab.world.palette import (
    ALL_SHAPES,
    BACKGROUND_COLOURS,
    BASE_SHAPES,
    HELD_OUT,
    IMAGE_SIZE,
    OBJECT_COLOURS,
    POSITION_PHRASES,
    POSITIONS,
    SIZE_THRESHOLD,
    SIZES,
)

SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    """One object of `colour` and `shape`, centred at (cx, cy) with half-extent `half`, on `background`."""

    shape: str
    colour: str
    background: str
    cx: float
    cy: float
    half: float

    @property
    def size(self) -> str:
        return "small" if self.half < SIZE_THRESHOLD else "large"

    @property
    def position(self) -> str:
        return position_of(self.cx, self.cy, IMAGE_SIZE)


def position_of(cx: float, cy: float, extent: int) -> str:
    """The 3x3 grid cell ("top left" ... "bottom right") holding the point (cx, cy)."""
    col = min(2, max(0, int(3 * cx / extent)))
    row = min(2, max(0, int(3 * cy / extent)))
    return POSITIONS[3 * row + col]


def sample_scene(
    rng: random.Random,
    shapes: tuple[str, ...] = BASE_SHAPES,
    exclude: frozenset[tuple[str, str]] = HELD_OUT,
    colours: tuple[str, ...] | None = None,
    backgrounds: tuple[str, ...] | None = None,
) -> Scene:
    """Draw a random scene; (colour, shape) pairs in `exclude` are never drawn."""
    colours = colours or tuple(OBJECT_COLOURS)
    backgrounds = backgrounds or tuple(BACKGROUND_COLOURS)
    while True:
        shape, colour = rng.choice(shapes), rng.choice(colours)
        if (colour, shape) not in exclude:
            break
    background = rng.choice(backgrounds)
    lo, hi = SIZES[rng.choice(tuple(SIZES))]
    half = rng.uniform(lo, hi)
    margin = half + 1
    cx = rng.uniform(margin, IMAGE_SIZE - margin)
    cy = rng.uniform(margin, IMAGE_SIZE - margin)
    return Scene(shape, colour, background, cx, cy, half)


def shape_polygon(shape: str, cx: float, cy: float, half: float) -> list[tuple[float, float]]:
    """Vertices of a polygonal shape (square, triangle, star) centred at (cx, cy)."""
    if shape == "square":
        return [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    if shape == "triangle":
        return [(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    if shape == "star":
        points = []
        for k in range(10):
            radius = half if k % 2 == 0 else 0.45 * half
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle) + 0.1 * half))
        return points
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(ALL_SHAPES)}")


def render(scene: Scene, size: int = IMAGE_SIZE) -> Image.Image:
    """Render `scene` as an anti-aliased RGB image of `size` x `size` pixels."""
    scale = SUPERSAMPLE * size / IMAGE_SIZE
    big = Image.new("RGB", (round(size * SUPERSAMPLE),) * 2, BACKGROUND_COLOURS[scene.background])
    draw = ImageDraw.Draw(big)
    fill = OBJECT_COLOURS[scene.colour]
    cx, cy, half = scene.cx * scale, scene.cy * scale, scene.half * scale
    if scene.shape == "circle":
        draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=fill)
    else:
        draw.polygon(shape_polygon(scene.shape, cx, cy, half), fill=fill)
    return big.resize((size, size), Image.Resampling.BOX)


def caption(scene: Scene, rng: random.Random | None = None, detail: float = 0.5) -> str:
    """Caption `scene`; with `rng`, size and position words each appear with probability `detail`."""
    with_size = rng is not None and rng.random() < detail
    with_position = rng is not None and rng.random() < detail
    words = ["a"]
    if with_size:
        words.append(scene.size)
    words += [scene.colour, scene.shape]
    if with_position:
        words.append(POSITION_PHRASES[scene.position])
    words += ["on", "a", scene.background, "background"]
    return " ".join(words)
