"""Prior preservation (DreamBooth; kohya's regularization images): the class images a LoRA keeps drawing well.

With `--class-prompt`, every training step also fits images of the subject's class ("a star"), weighted by
`--prior-loss-weight`, so the LoRA learns the subject without forgetting what its class looks like. The class
images come from `--reg-data`, or are generated once from the base model itself and cached next to the run.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Callable

import torch

from sdlab.outputs import save_png
from sdlab.requests.lora_training import LoraTrainRequest
from sdlab.training.lora.data import Example, scan

PRIOR_SALT = 0x5EED_C1A5  # the class images' noise is drawn apart from the instance images'


def class_examples(request: LoraTrainRequest, base, resolution: int, log: Callable[[str], None]) -> list[Example]:
    """The class examples of a run: `reg_data` scanned, or `class_images` generated from the base and cached."""
    if request.reg_data is not None:
        examples, warnings = scan(Path(request.reg_data), request.class_prompt, "reg-data")
        for warning in warnings:
            log(f"warning: {warning}")
        return examples
    key = hashlib.sha256(f"{base.name}|{request.class_prompt}|{resolution}|{request.seed}".encode()).hexdigest()[:12]
    folder = request.work_dir() / "class-images" / key
    missing = [i for i in range(request.class_images) if not (folder / f"{i:05d}.png").is_file()]
    if missing:
        log(f"generating {len(missing)} class images of {request.class_prompt!r} with the base model (cached in {folder})")
    for index in missing:
        generator = torch.Generator("cpu").manual_seed(request.seed + index)
        with torch.no_grad():
            image = base.pipe(request.class_prompt, height=resolution, width=resolution, generator=generator,
                              num_inference_steps=int(base.defaults.get("steps", 20)),
                              guidance_scale=float(base.defaults.get("cfg", 7.0))).images[0]
        save_png(image, folder / f"{index:05d}.png", overwrite=True)
        (folder / f"{index:05d}.txt").write_text(request.class_prompt, encoding="utf-8")
    examples, _ = scan(folder, request.class_prompt, "class-prompt")
    return [e for e in examples if int(e.path.stem) < request.class_images]


def pick(examples: list[Example], seed: int, index: int, count: int) -> list[Example]:
    """The class examples of micro-batch `index`: a function of (seed, index) alone, so resuming draws the same."""
    rng = random.Random(f"{seed}/prior/{index}")
    return [examples[rng.randrange(len(examples))] for _ in range(count)]
