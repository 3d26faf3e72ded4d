"""Which examples, noise and timesteps each training step uses: a pure function of (seed, step).

Nothing here keeps state, so a resumed run sees exactly the batches an uninterrupted one would,
and N processes each taking a slice of a global micro-batch see what one process would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from sdlab.training.lora.data import Example


@dataclass(frozen=True)
class Plan:
    """An epoch is every example `repeats` times, grouped by bucket into global micro-batches of `size`."""

    examples: tuple[Example, ...]
    buckets: tuple[tuple[int, int], ...]  # per example, (width, height)
    size: int
    seed: int

    def batches_per_epoch(self) -> int:
        counts: dict[tuple[int, int], int] = {}
        for example, bucket in zip(self.examples, self.buckets):
            counts[bucket] = counts.get(bucket, 0) + example.repeats
        return sum(-(-n // self.size) for n in counts.values())

    def epoch(self, epoch: int) -> list[list[int]]:
        """The micro-batches (example indices, one bucket each) of an epoch, in order; short batches are topped up."""
        rng = random.Random(f"{self.seed}/epoch/{epoch}")
        by_bucket: dict[tuple[int, int], list[int]] = {}
        for index, (example, bucket) in enumerate(zip(self.examples, self.buckets)):
            by_bucket.setdefault(bucket, []).extend([index] * example.repeats)
        batches = []
        for bucket in sorted(by_bucket):
            items = by_bucket[bucket][:]
            rng.shuffle(items)
            while len(items) % self.size:
                items.append(rng.choice(by_bucket[bucket]))
            batches += [items[i:i + self.size] for i in range(0, len(items), self.size)]
        rng.shuffle(batches)
        return batches

    def micro_batch(self, index: int, epochs: dict[int, list[list[int]]] | None = None) -> list[int]:
        """The example indices of global micro-batch number `index` (counting from the start of training).

        `epochs`, if given, memoises epoch orders for the caller (one training run).
        """
        per_epoch = self.batches_per_epoch()
        epoch = index // per_epoch
        if epochs is None:
            return self.epoch(epoch)[index % per_epoch]
        if epoch not in epochs:
            epochs.clear()
            epochs[epoch] = self.epoch(epoch)
        return epochs[epoch][index % per_epoch]


@dataclass(frozen=True)
class Draw:
    """The random choices of one global micro-batch."""

    noise: torch.Tensor
    offset: torch.Tensor
    timesteps: torch.Tensor
    drop_caption: torch.Tensor
    flip: torch.Tensor


def draw(seed: int, index: int, batch: int, latent_shape: tuple[int, int, int], timesteps: int) -> Draw:
    """Noise, noise-offset noise, timesteps, caption-dropout and flip coins for micro-batch `index` (CPU, seeded)."""
    generator = torch.Generator().manual_seed(seed * 2**31 + index)
    channels = latent_shape[0]
    return Draw(
        noise=torch.randn((batch, *latent_shape), generator=generator),
        offset=torch.randn((batch, channels, 1, 1), generator=generator),
        timesteps=torch.randint(0, timesteps, (batch,), generator=generator),
        drop_caption=torch.rand(batch, generator=generator),
        flip=torch.rand(batch, generator=generator) < 0.5,
    )


def validation_draw(seed: int, example: int, latent_shape: tuple[int, int, int], timesteps: int,
                    per_example: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed noise and evenly spread timesteps for one validation example: the same at every evaluation."""
    generator = torch.Generator().manual_seed(seed * 2**31 + 2**31 - 1 - example)
    noise = torch.randn((per_example, *latent_shape), generator=generator)
    return noise, torch.linspace(0, timesteps - 1, per_example + 2)[1:-1].round().long()
