"""The synthetic worlds a base model can be trained on, each as what the trainer needs from it.

A world gives the images and captions of its training set, the image size, and the name its model's
sdlab.json records (so sweeps and exercises know which judge reads the model's images).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image

from sdlab import world as world1
from sdlab import world2
from sdlab.world import palette as palette1
from sdlab.world2 import palette as palette2
from sdlab.errors import UsageError


@dataclass(frozen=True)
class TrainingWorld:
    name: str
    image_size: int
    training_scene: Callable[[random.Random], Any]  # what the base model learns from (held-out parts kept out)
    vae_scene: Callable[[random.Random], Any]  # what the VAE learns to compress (every shape)
    vocabulary_scene: Callable[[random.Random], Any]  # what the tokenizer's merges are learnt from (every word)
    render: Callable[[Any], Image.Image]
    caption: Callable[[Any, random.Random, float], str]  # (scene, rng, detail): sizes and positions with p = detail
    reading: Callable[[Image.Image], tuple]  # what the world's judge reads in an image, comparable between images


def _every_scene2(rng: random.Random):
    return world2.sample_scene(rng, shapes=palette2.ALL_SHAPES, held_out_pairs=frozenset(), held_out_places=frozenset())


def _reading1(image: Image.Image) -> tuple:
    seen = world1.judge(image)
    return seen.background, seen.colour, seen.shape, seen.objects


def _reading2(image: Image.Image) -> tuple:
    seen = world2.judge(image)
    return seen.background, tuple(sorted((o.colour, o.shape, o.size, o.position) for o in seen.objects))


SHAPES = TrainingWorld(
    world1.WORLD, palette1.IMAGE_SIZE, world1.sample_scene,
    lambda rng: world1.sample_scene(rng, shapes=palette1.ALL_SHAPES),
    lambda rng: world1.sample_scene(rng, shapes=palette1.ALL_SHAPES, exclude=frozenset()),
    world1.render, world1.caption, _reading1)

SHAPES2 = TrainingWorld(world2.WORLD, palette2.IMAGE_SIZE, world2.sample_scene, _every_scene2, _every_scene2,
                        world2.render, world2.caption, _reading2)

WORLDS = {world.name: world for world in (SHAPES, SHAPES2)}


def training_world(name: str) -> TrainingWorld:
    if name not in WORLDS:
        raise UsageError("world", f"unknown world {name!r}; known: {', '.join(WORLDS)}")
    return WORLDS[name]
