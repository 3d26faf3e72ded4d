"""The optional safety checker: run when asked, reported per image, never blacking an image out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sdlab.errors import UsageError


def check_images(model, images) -> list[bool]:
    """The model's own safety checker's verdict (True = flagged) for each PIL image; the images are untouched."""
    checker, extractor = load_checker(model)
    pixels = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])
    features = extractor([np.asarray(im) for im in images], return_tensors="pt").pixel_values
    with torch.no_grad():
        _, flags = checker(images=pixels.copy(), clip_input=features.to(model.device, checker.dtype))
    return [bool(f) for f in flags]


def load_checker(model):
    """The model's safety checker and feature extractor, loaded once; UsageError when it ships none."""
    if model.safety is not None:
        return model.safety
    folder = Path(model.source.location)
    if not (folder / "safety_checker").is_dir() or not (folder / "feature_extractor").is_dir():
        raise UsageError("safety-checker", f"{model.source.name} ships no safety checker (no safety_checker/ and "
                         "feature_extractor/ folders); run without --safety-checker")
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    checker = StableDiffusionSafetyChecker.from_pretrained(folder / "safety_checker").to(model.device)
    extractor = CLIPImageProcessor.from_pretrained(folder / "feature_extractor")
    model.safety = (checker, extractor)
    return model.safety
