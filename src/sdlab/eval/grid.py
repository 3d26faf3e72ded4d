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


def axes_grid(images: list[Image.Image], x_labels: list[str], y_labels: list[str], x_title: str, y_title: str = "",
              cell: int = 128) -> Image.Image:
    """An X/Y plot: images row by row (len(y_labels) rows, or one), values on the top and left margins, axes titled."""
    columns, rows = len(x_labels), max(1, len(y_labels))
    font = ImageFont.load_default(size=12)
    title_font = ImageFont.load_default(size=14)
    left = 110 if y_labels else 10
    top = 48
    grid = Image.new("RGB", (left + columns * cell + 10, top + rows * cell + 10), "white")
    draw = ImageDraw.Draw(grid)
    draw.text((left + columns * cell // 2, 4), x_title, fill="black", font=title_font, anchor="ma")
    for ix, label in enumerate(x_labels):
        draw.text((left + ix * cell + cell // 2, 26), _fit(label, 20), fill="black", font=font, anchor="ma")
    if y_labels:
        draw.text((4, 4), y_title, fill="black", font=title_font)
        for iy, label in enumerate(y_labels):
            draw.text((left - 6, top + iy * cell + cell // 2), _fit(label, 16), fill="black", font=font, anchor="rm")
    for index, image in enumerate(images):
        x, y = left + (index % columns) * cell, top + (index // columns) * cell
        resample = Image.Resampling.NEAREST if image.width < cell else Image.Resampling.LANCZOS
        grid.paste(image.convert("RGB").resize((cell, cell), resample), (x, y))
    return grid


def _fit(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
