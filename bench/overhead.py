"""sdlab's overhead over a bare diffusers pipeline: the same txt2img request, same model, same process.

    python bench/overhead.py                      # embedded sdlab-shapes, 64x64, 20 steps, guidance 5
    python bench/overhead.py --model ./sd15 --size 512 --repeats 5

Both sides run DPM++ 2M with the same seed and settings; runs are interleaved so drift
(thermal, other load) hits both alike. Prints the medians and sdlab's overhead in percent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import machine  # bench/machine.py: printed before every result

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="diffusers folder (default: the embedded model)")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(machine.describe(), flush=True)

    import numpy as np
    import torch
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    from sdlab.engine.engine import Engine
    from sdlab.engine.sources import resolve_source
    from sdlab.requests import build_request

    folder = resolve_source(args.model).location
    prompt = "a red circle on a white background"
    engine = Engine()
    request = build_request(prompt=prompt, model=args.model, steps=args.steps, cfg=args.cfg, seed=1,
                            sampler="DPM++ 2M", width=args.size, height=args.size, batch_size=args.batch)
    size = engine.generate(request).resolved.width  # also warms sdlab

    bare = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    bare.scheduler = DPMSolverMultistepScheduler.from_config(bare.scheduler.config)
    bare.set_progress_bar_config(disable=True)

    def run_bare():
        generators = [torch.Generator("cpu").manual_seed(1 + i) for i in range(args.batch)]
        return bare(prompt, negative_prompt="", num_inference_steps=args.steps, guidance_scale=args.cfg, height=size,
                    width=size, generator=generators, num_images_per_prompt=args.batch).images

    run_bare()  # warm-up
    same = np.array_equal(np.asarray(run_bare()[0]), np.asarray(engine.generate(request).images[0].image))
    times = {"sdlab": [], "diffusers": []}
    for _ in range(args.repeats):
        for name, call in (("diffusers", run_bare), ("sdlab", lambda: engine.generate(request))):
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    sdlab_s, bare_s = statistics.median(times["sdlab"]), statistics.median(times["diffusers"])
    print(f"model {folder}  size {size}  steps {args.steps}  cfg {args.cfg}  batch {args.batch}  "
          f"repeats {args.repeats}  torch threads {torch.get_num_threads()}")
    print(f"identical first image: {same}")
    print(f"diffusers median {bare_s * 1000:.1f} ms   sdlab median {sdlab_s * 1000:.1f} ms")
    print(f"sdlab / diffusers = {sdlab_s / bare_s:.3f}  (overhead {100 * (sdlab_s / bare_s - 1):+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
