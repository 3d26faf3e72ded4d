"""sdlab serve under load: images per minute and latency at 1, 4 and 16 concurrent clients, and the server's
overhead against calling the engine directly, in the same process and session.

    python bench/serve.py                  # embedded sdlab-shapes, 64x64, 20 steps
    python bench/serve.py --requests 48 --steps 30

Each client posts A1111 txt2img requests (one image each, its own seed) to a real uvicorn server on a local
port and waits for the answer, as webuiapi does. The baseline is the same requests run with Engine.generate
in this process, interleaved with the one-client server runs so drift hits both alike. Also prints what a
step preview costs against a VAE decode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import machine  # bench/machine.py: printed before every result

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the live-server helper


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--rounds", type=int, default=12, help="interleaved engine/server pairs for the overhead")
    args = parser.parse_args()
    print(machine.describe(), flush=True)

    import httpx

    from live_server import free_port, live_server
    from sdlab.engine.engine import Engine
    from sdlab.jobs import JobQueue, JobStore
    from sdlab.requests import build_request
    from sdlab.server.config import ServerConfig

    engine = Engine()
    body = {"prompt": "a red circle on a white background", "steps": args.steps, "width": args.size,
            "height": args.size, "cfg_scale": 5, "sampler_name": "DPM++ 2M"}
    direct = build_request(prompt=body["prompt"], steps=args.steps, width=args.size, height=args.size, cfg=5.0,
                           sampler="DPM++ 2M", seed=1)
    engine.generate(direct)  # load and warm up

    with tempfile.TemporaryDirectory() as scratch:
        config = ServerConfig(data_dir=Path(scratch), port=free_port(), max_queued=1000)
        jobs = JobQueue(engine, JobStore(config.data_dir), config.max_queued).start()
        with live_server(config, jobs) as base, httpx.Client(base_url=base, timeout=600) as client:
            client.post("/sdapi/v1/txt2img", json={**body, "seed": 0}).raise_for_status()  # warm the server path

            engine_s, server_s = [], []
            for round_ in range(args.rounds):
                started = time.perf_counter()
                engine.generate(direct.model_copy(update={"seed": round_}))
                engine_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                client.post("/sdapi/v1/txt2img", json={**body, "seed": round_}).raise_for_status()
                server_s.append(time.perf_counter() - started)
            engine_median, server_median = statistics.median(engine_s), statistics.median(server_s)
            print(f"{args.size}x{args.size}, {args.steps} steps, one image per request")
            print(f"1 client, {args.rounds} interleaved rounds: engine direct median {engine_median * 1000:.1f} ms, "
                  f"through the server {server_median * 1000:.1f} ms; server / engine = "
                  f"{server_median / engine_median:.3f} (overhead {100 * (server_median / engine_median - 1):+.1f} %)")

            for clients in (1, 4, 16):
                latencies: list[float] = []
                lock = threading.Lock()
                per_client = max(1, args.requests // clients)

                def client_loop(index: int) -> None:
                    with httpx.Client(base_url=base, timeout=600) as own:
                        for n in range(per_client):
                            started = time.perf_counter()
                            own.post("/sdapi/v1/txt2img", json={**body, "seed": index * 1000 + n}).raise_for_status()
                            with lock:
                                latencies.append(time.perf_counter() - started)

                threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                wall = time.perf_counter() - started
                print(f"{clients:2d} clients: {len(latencies) / wall * 60:6.1f} images/min   latency p50 "
                      f"{percentile(latencies, 0.5):.3f} s   p95 {percentile(latencies, 0.95):.3f} s   "
                      f"({len(latencies)} requests in {wall:.1f} s)", flush=True)
        jobs.stop()

    model = engine.models.get(None)
    preview = model.preview_map()
    import torch

    latents = torch.randn(1, model.pipe.unet.config.in_channels, args.size // preview.scale, args.size // preview.scale)
    timings = {}
    for name, run in (("preview", lambda: preview.images(latents)),
                      ("VAE decode", lambda: model.pipe.vae.decode(latents / model.pipe.vae.config.scaling_factor))):
        with torch.inference_mode():
            run()
            started = time.perf_counter()
            for _ in range(20):
                run()
        timings[name] = (time.perf_counter() - started) / 20
    print(f"step preview ({type(preview).__name__}, held-out error {preview.error:.3f} vs flat-colour "
          f"{preview.baseline:.3f}): {timings['preview'] * 1000:.2f} ms; VAE decode {timings['VAE decode'] * 1000:.2f} ms; "
          f"preview / decode = {timings['preview'] / timings['VAE decode']:.2f}")
    sd_sized_preview_cost()
    return 0


def sd_sized_preview_cost() -> None:
    """What a linear preview costs against a decode by an SD 1.5-sized VAE at 512x512 (random weights: the cost is
    the point here, not the picture; no SD weights are on this machine)."""
    import torch
    from diffusers import AutoencoderKL

    from sdlab.engine.previews import LinearPreview

    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4).eval()
    latents = torch.randn(1, 4, 64, 64)
    linear = LinearPreview(torch.randn(4, 3), torch.zeros(3), 8, 0.0, 0.0)
    with torch.inference_mode():
        vae.decode(latents)
        started = time.perf_counter()
        vae.decode(latents)
        decode = time.perf_counter() - started
    linear.images(latents)
    started = time.perf_counter()
    for _ in range(20):
        linear.images(latents)
    cheap = (time.perf_counter() - started) / 20
    print(f"SD 1.5-sized VAE at 512x512: linear preview {cheap * 1000:.2f} ms, VAE decode {decode * 1000:.0f} ms; "
          f"the preview is {decode / cheap:,.0f}x cheaper")


if __name__ == "__main__":
    sys.exit(main())
