"""How much of a synthetic world survives a VAE: the judge reads each scene and its reconstruction.

A base model cannot draw what its VAE cannot carry, so this is the ceiling of every judged score; it is
measured before hours of UNet training are spent on a VAE (`sdlab train-base` logs it when the VAE stage
ends, `sdlab eval vae` measures a finished model).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import torch
from PIL import Image

from sdlab.training.base.worlds import TrainingWorld
from sdlab.training.images import to_tensor


@dataclass
class VaeFidelity:
    scenes: Counter = field(default_factory=Counter)  # scenes per object count
    kept: Counter = field(default_factory=Counter)  # of those, read the same after the round trip
    misses: list[tuple[tuple, tuple]] = field(default_factory=list)  # (original, reconstruction) readings

    @property
    def rate(self) -> float:
        return sum(self.kept.values()) / max(1, sum(self.scenes.values()))

    def as_dict(self) -> dict:
        return {"scenes": sum(self.scenes.values()), "kept": self.rate,
                "by_objects": {n: self.kept[n] / self.scenes[n] for n in sorted(self.scenes)}}


def to_image(decoded: torch.Tensor) -> Image.Image:
    """One decoded image in [-1, 1] (3, H, W) -> PIL."""
    return Image.fromarray(((decoded.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy())


@torch.no_grad()
def vae_fidelity(vae, world: TrainingWorld, scenes: int = 200, seed: int = 0, batch: int = 16) -> VaeFidelity:
    """Round-trip `scenes` of the world (every shape, as the VAE was trained) through `vae`'s posterior mean."""
    rng = random.Random(f"{seed}/vae-fidelity")
    images = [world.render(world.vae_scene(rng)) for _ in range(scenes)]
    score = VaeFidelity()
    device, dtype = vae.device, vae.dtype
    for start in range(0, scenes, batch):
        chunk = images[start:start + batch]
        x = to_tensor(chunk).to(device, dtype)
        decoded = vae.decode(vae.encode(x).latent_dist.mean).sample.float().cpu()
        for original, out in zip(chunk, decoded):
            want, got = world.reading(original), world.reading(to_image(out))
            count = _objects(want)
            score.scenes[count] += 1
            if want == got:
                score.kept[count] += 1
            elif len(score.misses) < 20:
                score.misses.append((want, got))
    return score


def _objects(reading: tuple) -> int:
    last = reading[-1]
    return len(last) if isinstance(last, tuple) else int(last)
