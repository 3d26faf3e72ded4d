"""Labelled image grids."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont


def labelled_grid(images: list[Image.Image], labels: list[str], columns: int, cell: int = 224,
                  label_height: int = 50) -> Image.Image:
    """Images in rows of `columns`, each scaled to `cell` pixels with its label (up to two lines) underneath."""
    rows = (len(images) + columns - 1) // columns
    grid = Image.new("RGB", (columns * cell, rows * (cell + label_height)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=12)
    for index, (image, label) in enumerate(zip(images, labels)):
        x, y = (index % columns) * cell, (index // columns) * (cell + label_height)
        grid.paste(image.resize((cell, cell), Image.Resampling.NEAREST), (x, y))
        draw.multiline_text((x + 4, y + cell + 3), label, fill="black", font=font, spacing=2)
    return grid
