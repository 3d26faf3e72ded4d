"""sdlab serve's own job API: submit, follow, cancel, fetch images; the key; the trust boundary (names, not paths)."""

from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import hostile_files as hf
from live_server import free_port
from sdlab.jobs import JobQueue, JobStore
from sdlab.server.app import create_app
from sdlab.server.auth import authorized
from sdlab.server.config import ServerConfig
from sdlab.world import judge

PROMPT = "a red circle on a white background"


@pytest.fixture
def server(engine, tmp_path):
    loras = tmp_path / "loras"
    loras.mkdir()
    (loras / "ok.safetensors").write_bytes(hf.valid_lora_bytes())
    config = ServerConfig(data_dir=tmp_path / "data", models_dir=tmp_path / "models", lora_dir=loras, max_queued=4)
    (tmp_path / "models").mkdir()
    jobs = JobQueue(engine, JobStore(config.data_dir), config.max_queued).start()
    with TestClient(create_app(config, jobs)) as client:
        yield client, jobs
    jobs.stop()


def wait(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/sdlab/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_job_is_drawn_as_asked_with_its_seed_in_the_png(server):
    client, _ = server
    submitted = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "seed": 3, "batch_size": 2, "steps": 12})
    assert submitted.status_code == 202 and submitted.json()["state"] in ("queued", "running")
    job = wait(client, submitted.json()["id"])
    assert job["state"] == "done" and [i["seed"] for i in job["images"]] == [3, 4]
    for image in job["images"]:
        png = client.get(image["url"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        picture = Image.open(io.BytesIO(png.content))
        assert judge(picture).matches("red", "circle", "white")
        assert f"Seed: {image['seed']}" in picture.info["parameters"]


def test_events_stream_steps_then_the_finished_job(server):
    client, _ = server
    job_id = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "steps": 5, "seed": 3}).json()["id"]
    with client.stream("GET", f"/sdlab/v1/jobs/{job_id}/events") as stream:
        text = "".join(stream.iter_text())
    kinds = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert kinds[-1] == "finished" and "step" in kinds
    steps = [json.loads(line[6:])["step"] for line, kind in zip(
        [l for l in text.splitlines() if l.startswith("data: ")], kinds) if kind == "step"]
    assert steps == sorted(steps) and steps[-1] == 5
    last_step = [json.loads(l[6:]) for l, kind in zip([l for l in text.splitlines() if l.startswith("data: ")], kinds)
                 if kind == "step"][-1]
    header, data = last_step["previews"][0].split(",", 1)
    preview = Image.open(io.BytesIO(base64.b64decode(data)))
    assert header == "data:image/png;base64" and preview.size == (64, 64)
    finished = json.loads([l for l in text.splitlines() if l.startswith("data: ")][-1][6:])
    image = Image.open(io.BytesIO(client.get(finished["images"][0]["url"]).content)).convert("RGB")
    difference = np.abs(np.asarray(preview.convert("RGB"), float) - np.asarray(image, float)).mean() / 255
    assert difference < 0.02  # the last step's preview is the image


def test_cancel_a_queued_job(server):
    client, jobs = server
    first = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "steps": 60, "batch_count": 2}).json()
    second = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "steps": 2}).json()
    assert client.post(f"/sdlab/v1/jobs/{second['id']}/cancel").json()["state"] == "cancelled"
    client.post(f"/sdlab/v1/jobs/{first['id']}/cancel")
    assert wait(client, first["id"])["state"] == "cancelled"
    assert wait(client, second["id"])["started"] is None


def test_the_key_protects_every_route(engine, tmp_path):
    config = ServerConfig(data_dir=tmp_path / "data", api_key="s3cret")
    jobs = JobQueue(engine, JobStore(config.data_dir))
    with TestClient(create_app(config, jobs)) as client:
        assert client.get("/sdlab/v1/jobs").status_code == 401
        assert client.get("/sdlab/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/sdlab/v1/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        basic = base64.b64encode(b"anyone:s3cret").decode()
        assert client.get("/sdlab/v1/jobs", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        for route in ("/sdapi/v1/sd-models", "/v1/models", "/sdapi/v1/progress", "/openapi.json", "/docs"):
            assert client.get(route).status_code == 401, route
        # the web page's own files hold no data: served without the key, and nothing beside them
        assert client.get("/").status_code == 200 and "<title>sdlab</title>" in client.get("/").text
        assert client.get("/ui/app.js").status_code == 200
        for sneaky in ("/ui/../app.py", "/ui/%2e%2e/config.py", "/ui/..%2fguard.py", "/ui/nothing.js"):
            assert client.get(sneaky).status_code in (401, 404), sneaky
        assert client.post("/", json={}).status_code == 401
    assert authorized("Basic ", None) and authorized(None, None)  # no key: an empty header is ignored
    assert not authorized("Basic !!!", "k") and not authorized("Token k", "k")


def test_a_server_on_another_address_needs_a_key():
    from sdlab.errors import UsageError

    with pytest.raises(UsageError, match="--api-key"):
        ServerConfig(host="0.0.0.0").check()
    assert ServerConfig(host="0.0.0.0", api_key="k").check() and ServerConfig(host="::1").check()
    for bad, argument in ((dict(keep_days=0), "keep-days"), (dict(max_queued=0), "max-queued"), (dict(port=0), "port")):
        with pytest.raises(UsageError) as info:
            ServerConfig(**bad).check()
        assert info.value.argument == argument
    assert ServerConfig(keep_days=0.5).keep_seconds == 43200


def _png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("body, field", [
    ("not json", "body"),
    ([1, 2], "body"),
    ({"prompt": PROMPT, "steps": "many"}, "steps"),
    ({"prompt": PROMPT, "width": 4096}, "width"),
    ({"prompt": PROMPT, "steps": 500}, "steps"),
    ({"prompt": PROMPT, "batch_size": 8, "batch_count": 8}, "batch_size"),
    ({"prompt": PROMPT, "model": "../../etc"}, "model"),
    ({"prompt": PROMPT, "model": "/abs/model.safetensors"}, "model"),
    ({"prompt": PROMPT, "model": "org/hub-model"}, "model"),
    ({"prompt": PROMPT, "model": "missing"}, "model"),
    ({"prompt": PROMPT, "allow_pickle": True}, "allow_pickle"),
    ({"prompt": PROMPT, "config": "/etc"}, "config"),
    ({"prompt": PROMPT, "lora_dir": "/etc"}, "lora_dir"),
    ({"prompt": PROMPT, "device": "cuda"}, "device"),
    ({"prompt": "a <lora:../x>"}, "prompt"),
    ({"prompt": "a <lora:/etc/passwd>"}, "prompt"),
    ({"prompt": PROMPT, "loras": [{"name": "../ok"}]}, "loras"),
    ({"prompt": PROMPT, "loras": "ok"}, "loras"),
    ({"prompt": PROMPT, "task": "img2img", "image": "http://example.com/x.png"}, "image"),
    ({"prompt": PROMPT, "task": "img2img", "image": "###"}, "image"),
    ({"prompt": PROMPT, "task": "img2img", "image": base64.b64encode(b"not an image").decode()}, "image"),
    ({"prompt": PROMPT, "task": "img2img", "image": 5}, "image"),
    ({"prompt": PROMPT, "bogus": 1}, "bogus"),
])
def test_bad_requests_are_4xx_naming_the_field(server, body, field):
    client, _ = server
    response = client.post("/sdlab/v1/jobs", content=body if isinstance(body, str) else json.dumps(body),
                           headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["field"] == field, response.text
    assert client.get("/sdlab/v1/jobs").status_code == 200  # still serving


def test_a_bomb_and_a_huge_body_are_refused_before_decoding(server, tmp_path):
    client, _ = server
    bomb = base64.b64encode(hf.bomb_png(tmp_path / "bomb.png").read_bytes()).decode()
    response = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "task": "img2img", "image": bomb})
    assert response.status_code == 400 and "too large" in response.json()["error"]["message"]
    huge = client.post("/sdlab/v1/jobs", content=b"{" + b" " * (33 * 1024 * 1024) + b"}",
                       headers={"content-type": "application/json"})
    assert huge.status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(40):
            yield b" " * (1024 * 1024)

    streamed = client.post("/sdlab/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"]["field"] == "body"


def test_an_image_is_taken_as_base64_or_a_data_uri_and_loras_by_name(server):
    client, _ = server
    picture = _png_b64(Image.new("RGB", (64, 64), "white"))
    for value in (picture, f"data:image/png;base64,{picture}"):
        job = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "task": "img2img", "image": value, "steps": 4,
                                                  "strength": 0.5}).json()
        assert wait(client, job["id"])["state"] == "done"
    named = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "loras": [{"name": "ok", "weight": 0.5}], "steps": 2})
    assert named.status_code == 202 and named.json()["request"]["loras"] == [{"name": "ok", "weight": 0.5}]
    assert "lora_dir" not in named.json()["request"]  # no server paths in what a client sees


def test_a_full_queue_answers_429_with_retry_after(engine, tmp_path):
    config = ServerConfig(data_dir=tmp_path / "data", max_queued=1)
    jobs = JobQueue(engine, JobStore(config.data_dir), config.max_queued)  # not started: jobs wait
    with TestClient(create_app(config, jobs)) as client:
        assert client.post("/sdlab/v1/jobs", json={"prompt": PROMPT}).status_code == 202
        full = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT})
        assert full.status_code == 429 and int(full.headers["retry-after"]) > 0


def test_unknown_jobs_and_images_are_404(server):
    client, _ = server
    assert client.get("/sdlab/v1/jobs/nope").status_code == 404
    job_id = client.post("/sdlab/v1/jobs", json={"prompt": PROMPT, "steps": 2}).json()["id"]
    wait(client, job_id)
    assert client.get(f"/sdlab/v1/jobs/{job_id}/images/5").status_code == 404


def _start(data, port):
    import os
    import subprocess
    import sys

    import httpx

    process = subprocess.Popen([sys.executable, "-m", "sdlab.cli.main", "serve", "--port", str(port), "--data-dir",
                                str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/sdlab/v1/jobs", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not start")


def test_a_server_killed_with_kill_9_loses_nothing(tmp_path):
    """Finished jobs keep their images, queued jobs run after the restart, the interrupted one is marked failed."""
    import httpx

    data, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}/sdlab/v1"
    process = _start(data, port)
    try:
        done = httpx.post(f"{url}/jobs", json={"prompt": PROMPT, "steps": 4, "seed": 1}).json()["id"]
        while httpx.get(f"{url}/jobs/{done}").json()["state"] != "done":
            time.sleep(0.1)
        long = httpx.post(f"{url}/jobs", json={"prompt": PROMPT, "steps": 150, "batch_count": 16}).json()["id"]
        queued = httpx.post(f"{url}/jobs", json={"prompt": PROMPT, "steps": 4, "seed": 9}).json()["id"]
        while httpx.get(f"{url}/jobs/{long}").json()["state"] != "running":
            time.sleep(0.1)
    finally:
        process.kill()
        process.wait()
    process = _start(data, port)
    try:
        finished = httpx.get(f"{url}/jobs/{done}").json()
        assert finished["state"] == "done" and httpx.get(f"http://127.0.0.1:{port}{finished['images'][0]['url']}").status_code == 200
        interrupted = httpx.get(f"{url}/jobs/{long}").json()
        assert interrupted["state"] == "failed" and "stopped" in interrupted["error"]
        deadline = time.time() + 120
        while httpx.get(f"{url}/jobs/{queued}").json()["state"] != "done" and time.time() < deadline:
            time.sleep(0.2)
        assert httpx.get(f"{url}/jobs/{queued}").json()["images"][0]["seed"] == 9
    finally:
        process.kill()
        process.wait()


def test_parameters_of_an_image_are_its_request_fields(server, tmp_path):
    client, _ = server
    png = hf.png_with_text(tmp_path / "a.png", "a red circle\nSteps: 9, Sampler: Euler a, CFG scale: 4, Seed: 5, Size: 64x64")
    answer = client.post("/sdlab/v1/parameters", json={"image": base64.b64encode(png.read_bytes()).decode()})
    assert answer.status_code == 200
    assert answer.json()["fields"] == {"prompt": "a red circle", "negative_prompt": "", "steps": 9,
                                     "sampler": "Euler a", "cfg": 4.0, "seed": 5, "width": 64, "height": 64}
    plain = hf.png_with_text(tmp_path / "b.png", None)
    for body in ({"image": base64.b64encode(plain.read_bytes()).decode()}, {"image": "###"}, {}):
        refused = client.post("/sdlab/v1/parameters", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "image"


def test_a_sweep_job_runs_every_cell_and_serves_only_its_own_files(server):
    client, _ = server
    submitted = client.post("/sdlab/v1/sweeps", json={"prompt": PROMPT, "seed": 1, "steps": 4, "x": "cfg=1,5",
                                                      "y": "seed=1,2"})
    assert submitted.status_code == 202 and submitted.json()["kind"] == "sweep"
    job = wait(client, submitted.json()["id"])
    assert job["state"] == "done" and len(job["sweep"]["rows"]) == 4
    assert {"grid.png", "results.csv", "results.json", "plot-clipped.png"} <= set(job["sweep"]["files"])
    grid = client.get(job["sweep"]["urls"]["grid.png"])
    assert grid.status_code == 200 and Image.open(io.BytesIO(grid.content)).size[0] > 2 * 64
    for sneaky in ("..%2Fjobs.sqlite3", "..%2F..%2Fjobs.sqlite3", "cells", "input-image.png", "nothing.png"):
        assert client.get(f"/sdlab/v1/jobs/{job['id']}/files/{sneaky}").status_code == 404, sneaky
    for body, field in (({"prompt": PROMPT}, "x"), ({"prompt": PROMPT, "x": "steps=4,500"}, "x"),
                        ({"prompt": PROMPT, "x": "cfg=1", "y": "size=64,4096"}, "y"),
                        ({"prompt": PROMPT, "x": "cfg=1,2,3", "max_cells": 2}, "max_cells"),
                        ({"prompt": PROMPT, "x": "cfg=1", "max_cells": 10_000}, "max_cells"),
                        ({"prompt": PROMPT, "x": "cfg=1", "model": "../x"}, "model")):
        refused = client.post("/sdlab/v1/sweeps", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field, (body, refused.text)


def test_a_sweep_job_is_cancelled_between_cells(server):
    client, jobs = server
    job_id = client.post("/sdlab/v1/sweeps", json={"prompt": PROMPT, "steps": 20, "x": "seed=1-12 [12]"}).json()["id"]
    deadline = time.time() + 60
    while (jobs.sweep_progress(job_id) or (0, 0))[0] < 1 and time.time() < deadline:
        time.sleep(0.02)
    client.post(f"/sdlab/v1/jobs/{job_id}/cancel")
    job = wait(client, job_id)
    assert job["state"] == "cancelled" and job["sweep"]["files"] == []
