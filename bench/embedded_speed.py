"""Speed of the embedded model: warm latency, batched throughput (vs plain diffusers), cold CLI run.

    python bench/embedded_speed.py

1. one image at the model's default settings (its own size, 20 steps, guidance 5, DPM++ 2M), warm: sdlab
   engine vs plain diffusers;
2. per-image time in batches of 16, same settings: sdlab vs plain diffusers;
3. the default embedded model against every other embedded model (one image each, warm, sdlab engine);
4. `sdlab generate` end to end in a fresh process (import, load, one image, save), cold.
Runs are interleaved; medians are printed with their ratios.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import machine  # bench/machine.py: printed before every result

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

PROMPT = "a red circle on a white background"


def interleaved(calls: dict, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    print(machine.describe(), flush=True)
    import torch
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    from sdlab.engine.engine import Engine
    from sdlab.engine.sources import EMBEDDED_MODELS, EMBEDDED_NAME, embedded_path, model_card
    from sdlab.requests import build_request

    engine = Engine()
    bare = StableDiffusionPipeline.from_pretrained(embedded_path())
    bare.scheduler = DPMSolverMultistepScheduler.from_config(bare.scheduler.config)
    bare.set_progress_bar_config(disable=True)
    size = model_card(None)["defaults"]["size"]
    print(f"model {EMBEDDED_NAME}, {size}x{size}")

    def sdlab_call(batch):
        return lambda: engine.generate(build_request(prompt=PROMPT, seed=1, batch_size=batch))

    def bare_call(batch):
        return lambda: bare(PROMPT, negative_prompt="", height=size, width=size, num_inference_steps=20, guidance_scale=5,
                            num_images_per_prompt=batch,
                            generator=[torch.Generator().manual_seed(1 + i) for i in range(batch)])

    for call in (sdlab_call(1), bare_call(1), sdlab_call(16), bare_call(16)):
        call()  # warm-up
    one = interleaved({"sdlab": sdlab_call(1), "diffusers": bare_call(1)}, repeats=15)
    sixteen = interleaved({"sdlab": sdlab_call(16), "diffusers": bare_call(16)}, repeats=5)
    print(f"torch threads {torch.get_num_threads()}")
    print(f"one image, warm:     sdlab {one['sdlab']:.3f} s   diffusers {one['diffusers']:.3f} s   "
          f"ratio {one['sdlab'] / one['diffusers']:.3f}")
    print(f"batch 16, per image: sdlab {sixteen['sdlab'] / 16:.3f} s   diffusers {sixteen['diffusers'] / 16:.3f} s   "
          f"ratio {sixteen['sdlab'] / sixteen['diffusers']:.3f}")

    others = [name for name in EMBEDDED_MODELS[1:] if (embedded_path(name) / "model_index.json").is_file()]
    if others:
        calls = {name: (lambda name=name: engine.generate(build_request(prompt=PROMPT, seed=1, model=name)))
                 for name in (EMBEDDED_NAME, *others)}
        for call in calls.values():
            call()
        warm = interleaved(calls, repeats=15)
        for name in others:
            print(f"one image, warm: {EMBEDDED_NAME} {warm[EMBEDDED_NAME]:.3f} s   {name} {warm[name]:.3f} s   "
                  f"ratio {warm[EMBEDDED_NAME] / warm[name]:.3f}")

    cold = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sdlab.cli.main", "generate", PROMPT, "--seed", str(index),
                            "-o", folder], check=True, capture_output=True)
            cold.append(time.perf_counter() - start)
    print(f"sdlab generate end to end (fresh process): median {statistics.median(cold):.2f} s over {len(cold)} runs "
          f"({', '.join(f'{t:.2f}' for t in cold)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
