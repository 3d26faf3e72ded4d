"""The vocabulary of the synthetic world: shapes, colours, sizes, positions.

Everything here is an immutable constant; the renderer, the captioner and the
judge all read the same tables, so a caption can always be checked.
"""

from __future__ import annotations

from types import MappingProxyType

RGB = tuple[int, int, int]

#: Shapes the base model is trained on.
BASE_SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
#: Shapes the renderer and judge know but the base model never sees
#: (material for the LoRA subject exercise).
EXTRA_SHAPES: tuple[str, ...] = ("star",)
ALL_SHAPES: tuple[str, ...] = BASE_SHAPES + EXTRA_SHAPES

OBJECT_COLOURS: MappingProxyType[str, RGB] = MappingProxyType(
    {
        "red": (220, 40, 40),
        "orange": (245, 140, 20),
        "yellow": (240, 220, 40),
        "green": (40, 170, 60),
        "blue": (40, 90, 220),
        "purple": (140, 60, 200),
    }
)

BACKGROUND_COLOURS: MappingProxyType[str, RGB] = MappingProxyType(
    {
        "white": (245, 245, 245),
        "black": (20, 20, 20),
        "gray": (128, 128, 128),
        "pink": (250, 190, 200),
    }
)

#: Half-extent of the object in pixels (at 64x64) for each size word.
SIZES: MappingProxyType[str, tuple[int, int]] = MappingProxyType(
    {"small": (7, 10), "large": (14, 19)}
)
#: Half-extent that separates "small" from "large" when judging.
SIZE_THRESHOLD = 12

#: Position words for the 3x3 grid of thirds, row-major from the top left.
POSITIONS: tuple[str, ...] = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)
POSITION_PHRASES: MappingProxyType[str, str] = MappingProxyType(
    {
        "top left": "at the top left",
        "top": "at the top",
        "top right": "at the top right",
        "left": "on the left",
        "center": "in the center",
        "right": "on the right",
        "bottom left": "at the bottom left",
        "bottom": "at the bottom",
        "bottom right": "at the bottom right",
    }
)

#: (colour, shape) pairs never shown to the base model, to measure generalisation.
HELD_OUT: frozenset[tuple[str, str]] = frozenset(
    {("red", "square"), ("blue", "triangle"), ("yellow", "circle")}
)

IMAGE_SIZE = 64
