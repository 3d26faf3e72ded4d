"""The vocabulary of world 2: shapes, colours, backgrounds, sizes and the nine positions, at 128x128.

One table each, read by the renderer, the captioner and the judge alike, so a caption can always be
checked against an image. The colours are world 1's (sdlab.world.palette), so both judges agree on them.
"""

from __future__ import annotations

from types import MappingProxyType

from sdlab.world.palette import BACKGROUND_COLOURS, OBJECT_COLOURS, POSITIONS

IMAGE_SIZE = 128

#: Shapes the base model is trained on.
BASE_SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
#: Shapes the renderer and judge know but the base model never sees: subjects for LoRA exercises.
EXTRA_SHAPES: tuple[str, ...] = ("star", "cross", "heart")
ALL_SHAPES: tuple[str, ...] = BASE_SHAPES + EXTRA_SHAPES

__all__ = ["ALL_SHAPES", "BACKGROUND_COLOURS", "BASE_SHAPES", "EXTRA_SHAPES", "HELD_OUT_PAIRS",
           "HELD_OUT_PLACES", "IMAGE_SIZE", "MAX_OBJECTS", "OBJECT_COLOURS", "POSITIONS", "POSITION_PHRASES",
           "SIZES", "SIZE_THRESHOLD"]

#: Half-extent in pixels (at 128x128) for each size word; a large object still fits inside its ninth.
SIZES: MappingProxyType[str, tuple[float, float]] = MappingProxyType({"small": (8.0, 12.0), "large": (15.0, 20.0)})
#: Half-extent that separates "small" from "large" when judging.
SIZE_THRESHOLD = 13.5

#: The nine positions (world 1's, row-major from the top left) and how a caption says each ("at the left",
#: where world 1 wrote "on the left").
POSITION_PHRASES: MappingProxyType[str, str] = MappingProxyType({
    "top left": "at the top left", "top": "at the top", "top right": "at the top right",
    "left": "at the left", "center": "in the center", "right": "at the right",
    "bottom left": "at the bottom left", "bottom": "at the bottom", "bottom right": "at the bottom right",
})

MAX_OBJECTS = 3

#: (colour, shape) pairs the base model never sees, to measure generalisation (world 1's).
HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset({("red", "square"), ("blue", "triangle"), ("yellow", "circle")})
#: (shape, position) combinations the base model never sees named: the shape may sit there, but no caption says so.
HELD_OUT_PLACES: frozenset[tuple[str, str]] = frozenset(
    {("triangle", "top left"), ("circle", "bottom right"), ("square", "right")})
