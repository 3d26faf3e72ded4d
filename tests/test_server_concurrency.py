"""Twenty simultaneous requests from three kinds of client (webuiapi, openai, the job API over httpx) against
a real server with a small queue: each completes or gets 429, none is lost or run twice, and every image
carries its own request's seed."""

from __future__ import annotations

import base64
import io
import threading
import time

import httpx
import openai
import webuiapi
from PIL import Image

from live_server import free_port, live_server
from sdlab.jobs import JobQueue, JobState, JobStore
from sdlab.requests.infotext import parse_infotext
from sdlab.server.config import ServerConfig

PROMPT = "a red circle on a white background"
CLIENTS = 20


def _seed_of(image: Image.Image) -> int:
    return int(parse_infotext(image.info["parameters"])["Seed"])


def test_twenty_simultaneous_clients_each_get_their_own_images_or_429(engine, tmp_path):
    config = ServerConfig(data_dir=tmp_path / "data", models_dir=tmp_path, port=free_port(), max_queued=8)
    jobs = JobQueue(engine, JobStore(config.data_dir), config.max_queued).start()
    outcomes: dict[int, tuple[str, list[int]]] = {}  # seed -> ("done", image seeds) or ("429", [])
    start = threading.Barrier(CLIENTS)

    def a1111(base: str, seed: int) -> None:
        api = webuiapi.WebUIApi(baseurl=f"{base}/sdapi/v1")
        start.wait()
        try:
            result = api.txt2img(prompt=PROMPT, seed=seed, steps=4, width=64, height=64, sampler_name="Euler")
        except RuntimeError as exc:  # webuiapi's way of reporting a non-200 status
            assert "429" in str(exc), exc
            outcomes[seed] = ("429", [])
            return
        assert result.info["all_seeds"] == [seed]
        outcomes[seed] = ("done", [_seed_of(image) for image in result.images])

    def openai_images(base: str, seed: int) -> None:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
        start.wait()
        try:  # OpenAI's API has no seed: the prompt carries it where we can find it afterwards
            made = client.images.generate(prompt=f"{PROMPT} ({seed})", size="64x64", response_format="b64_json")
        except openai.RateLimitError:
            outcomes[seed] = ("429", [])
            return
        image = Image.open(io.BytesIO(base64.b64decode(made.data[0].b64_json)))
        assert image.info["parameters"].startswith(f"{PROMPT} ({seed})")
        outcomes[seed] = ("done", [seed])

    def job_api(base: str, seed: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            start.wait()
            submitted = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "seed": seed, "steps": 4})
            if submitted.status_code == 429:
                assert int(submitted.headers["retry-after"]) > 0
                outcomes[seed] = ("429", [])
                return
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]
            while (job := client.get(f"/sdlab/v1/jobs/{job_id}").json())["state"] not in ("done", "failed"):
                time.sleep(0.05)
            images = [Image.open(io.BytesIO(client.get(i["url"]).content)) for i in job["images"]]
            outcomes[seed] = (job["state"], [_seed_of(image) for image in images])

    with live_server(config, jobs) as base:
        kinds = [a1111, openai_images, job_api]
        threads = [threading.Thread(target=kinds[n % 3], args=(base, 1000 + n)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    jobs.stop()

    assert len(outcomes) == CLIENTS  # every client got an answer
    accepted = {seed: seeds for seed, (state, seeds) in outcomes.items() if state != "429"}
    assert all(state in ("done", "429") for state, _ in outcomes.values()), outcomes
    assert 8 <= len(accepted) < CLIENTS  # the queue took what it could and refused the rest
    for seed, seeds in accepted.items():
        assert seeds == [seed]  # each image carries its own request's seed
    stored = jobs.store.jobs(limit=100)
    assert len(stored) == len(accepted) and all(job.state is JobState.done for job in stored)  # none lost
    prompts_and_seeds = [(job.request["prompt"], job.request["seed"]) for job in stored]
    assert len(set(prompts_and_seeds)) == len(stored)  # none run twice
