"""Image metrics, each usable on its own: faithfulness (PSNR, SSIM), diversity, artefacts, CLIP scores.

PIL images in, floats out. Nothing here needs torchvision; CLIP metrics need a CLIP model on disk
or reachable online and say so clearly when there is none.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sdlab.errors import UsageError


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def _same_size(a: Image.Image, b: Image.Image) -> None:
    if a.size != b.size:
        raise UsageError("image", f"images differ in size ({a.size[0]}x{a.size[1]} vs {b.size[0]}x{b.size[1]}); "
                         "compare images of one size")


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB over RGB, 10·log10(255² / MSE); infinite for identical images."""
    _same_size(a, b)
    mse = float(((_array(a) - _array(b)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] @ g[None, :])[None, None]


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Structural similarity, mean over RGB channels: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03 (Wang et al. 2004)."""
    _same_size(a, b)
    if min(a.size) < 11:
        raise UsageError("image", f"SSIM needs images of at least 11x11 pixels, got {a.size[0]}x{a.size[1]}")
    x = torch.from_numpy(_array(a)).permute(2, 0, 1)[:, None]
    y = torch.from_numpy(_array(b)).permute(2, 0, 1)[:, None]
    window = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x ** 2
    var_y = F.conv2d(y * y, window) - mu_y ** 2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(value.mean())


def rms_distance(a: Image.Image, b: Image.Image) -> float:
    """Root-mean-square pixel difference, pixels in [0, 1]: 0 for identical images, 1 for black vs white."""
    _same_size(a, b)
    return float(np.sqrt((((_array(a) - _array(b)) / 255.0) ** 2).mean()))


def diversity(images: list[Image.Image]) -> float:
    """Mean pairwise RMS distance between images (pixels in [0, 1]); 0 when all are the same."""
    if len(images) < 2:
        return 0.0
    return float(np.mean([rms_distance(a, b) for a, b in itertools.combinations(images, 2)]))


def clipped_fraction(image: Image.Image) -> float:
    """Share of pixel channels at 0 or 255: the over-saturation high guidance causes."""
    pixels = np.asarray(image)
    return float(((pixels == 0) | (pixels == 255)).mean())


def load_clip(model: str):
    """A CLIP model and processor from a folder or hub id; a clear error when none can be had (e.g. offline)."""
    from transformers import CLIPModel, CLIPProcessor

    try:
        return CLIPModel.from_pretrained(model).eval(), CLIPProcessor.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise UsageError("clip-model", f"no CLIP model at {model!r} ({str(exc).splitlines()[0][:120]}); "
                         "give a local folder with a CLIP model, or go online for a hub id") from None


@torch.no_grad()
def clip_score(images: list[Image.Image], prompts: list[str], clip) -> list[float]:
    """CLIP score per image: max(100 · cos(image embedding, prompt embedding), 0) (Hessel et al. 2021)."""
    model, processor = clip
    inputs = processor(text=prompts, images=images, return_tensors="pt", padding=True, truncation=True)
    out = model(**inputs)
    cos = F.cosine_similarity(out.image_embeds, out.text_embeds, dim=-1)
    return [max(100.0 * float(c), 0.0) for c in cos]


@torch.no_grad()
def clip_image_similarity(images: list[Image.Image], references: list[Image.Image], clip) -> float:
    """Mean cosine similarity between each image's CLIP embedding and the mean embedding of the references."""
    model, processor = clip
    def embed(batch: list[Image.Image]) -> torch.Tensor:
        pixels = processor(images=batch, return_tensors="pt").pixel_values
        return F.normalize(model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output), dim=-1)

    reference = F.normalize(embed(references).mean(dim=0, keepdim=True), dim=-1)
    return float((embed(images) @ reference.T).mean())


def object_mask(image: Image.Image, distance: float = 60.0) -> np.ndarray:
    """Pixels that differ from the background (the median colour of the border) by more than `distance` in RGB."""
    pixels = _array(image)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    return np.sqrt(((pixels - background) ** 2).sum(axis=-1)) > distance


def layout_iou(a: Image.Image, b: Image.Image) -> float:
    """Composition kept, regardless of colour: intersection over union of the two images' object masks
    (plain-background images such as the synthetic world's); 1 when neither has an object."""
    _same_size(a, b)
    mask_a, mask_b = object_mask(a), object_mask(b)
    union = (mask_a | mask_b).sum()
    return 1.0 if union == 0 else float((mask_a & mask_b).sum() / union)
