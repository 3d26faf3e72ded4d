"""Hostile input to the A1111 and OpenAI routes: every case is a 4xx whose JSON names the field, no
generation starts, and the server still serves a real request afterwards."""

from __future__ import annotations

import base64
import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import hostile_files as hf
from sdlab.jobs import JobQueue, JobStore
from sdlab.server.app import create_app
from sdlab.server.config import ServerConfig
from sdlab.world import judge

PROMPT = "a red circle on a white background"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(size=(64, 64), mode="RGB", colour="white") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-server")
    for name in ("models", "loras"):
        (root / name).mkdir()
    (root / "loras" / "ok.safetensors").write_bytes(hf.valid_lora_bytes())
    config = ServerConfig(data_dir=root / "data", models_dir=root / "models", lora_dir=root / "loras",
                          max_body_bytes=2 * 1024 * 1024, max_side=512, max_steps=50, max_images=4)
    jobs = JobQueue(engine, JobStore(config.data_dir), max_queued=4).start()
    with TestClient(create_app(config, jobs)) as client:
        client.bomb = b64(hf.bomb_png(root / "bomb.png").read_bytes())
        client.root = str(root)
        yield client, jobs
    jobs.stop()


TXT2IMG = "/sdapi/v1/txt2img"
IMG2IMG = "/sdapi/v1/img2img"
A1111_JSON = [
    (TXT2IMG, "{not json", "body"),
    (TXT2IMG, [1, 2], "body"),
    (TXT2IMG, {"prompt": PROMPT, "steps": "many"}, "steps"),
    (TXT2IMG, {"prompt": PROMPT, "steps": 10 ** 6}, "steps"),
    (TXT2IMG, {"prompt": PROMPT, "steps": -3}, "steps"),
    (TXT2IMG, {"prompt": PROMPT, "width": 10 ** 9}, "width"),
    (TXT2IMG, {"prompt": PROMPT, "width": 1024}, "width"),
    (TXT2IMG, {"prompt": PROMPT, "width": -64}, "width"),
    (TXT2IMG, {"prompt": PROMPT, "height": 65}, "height"),
    (TXT2IMG, {"prompt": PROMPT, "width": "wide"}, "width"),
    (TXT2IMG, {"prompt": PROMPT, "batch_size": 4, "n_iter": 4}, "batch_size"),
    (TXT2IMG, {"prompt": PROMPT, "batch_size": 0}, "batch_size"),
    (TXT2IMG, {"prompt": PROMPT, "seed": "abc"}, "seed"),
    (TXT2IMG, {"prompt": PROMPT, "cfg_scale": "hot"}, "cfg_scale"),
    (TXT2IMG, {"prompt": PROMPT, "sampler_name": "Nonexistent 9000"}, "sampler_name"),
    (TXT2IMG, {"prompt": PROMPT, "scheduler": "bogus"}, "scheduler"),
    (TXT2IMG, {"prompt": 5}, "prompt"),
    (TXT2IMG, {"prompt": "a <lora:../../etc/passwd:1>"}, "prompt"),
    (TXT2IMG, {"prompt": "a <lora:/abs/x:1>"}, "prompt"),
    (TXT2IMG, {"prompt": "a <lora:missing:1>"}, "prompt"),
    (TXT2IMG, {"prompt": PROMPT, "override_settings": "sd15"}, "override_settings"),
    (TXT2IMG, {"prompt": PROMPT, "override_settings": {"sd_model_checkpoint": "../../etc/passwd"}},
     "sd_model_checkpoint"),
    (TXT2IMG, {"prompt": PROMPT, "override_settings": {"sd_model_checkpoint": "/abs/model.safetensors"}},
     "sd_model_checkpoint"),
    (IMG2IMG, {"prompt": PROMPT}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": "not a list"}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": ["###"]}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": [b64(b"not an image")]}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": ["http://169.254.169.254/latest"]}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": ["file:///etc/passwd"]}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": [7]}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": [b64(png())] * 3}, "init_images"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": [b64(png())], "denoising_strength": 2}, "denoising_strength"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": [b64(png())], "resize_mode": 9}, "resize_mode"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": [b64(png())], "mask": b64(b"GIF89a nonsense")}, "mask"),
    (IMG2IMG, {"prompt": PROMPT, "init_images": [b64(png())], "mask": b64(png(colour="black"))}, "mask"),
    ("/sdapi/v1/options", {"sd_model_checkpoint": "../../../etc/passwd"}, "sd_model_checkpoint"),
    ("/sdapi/v1/options", [], "body"),
    ("/sdapi/v1/png-info", {}, "image"),
    ("/sdapi/v1/png-info", {"image": b64(b"\x89PNG\r\n\x1a\n truncated")}, "image"),
]


@pytest.mark.parametrize("route, body, field", A1111_JSON, ids=[f"{r}-{f}-{i}" for i, (r, _, f) in enumerate(A1111_JSON)])
def test_a1111_routes_refuse_bad_input_naming_the_field(server, route, body, field):
    client, jobs = server
    before = len(jobs.store.jobs())
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post(route, content=content, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["field"] == field, response.text
    assert "Traceback" not in response.text and len(jobs.store.jobs()) == before  # refused before queueing
    assert client.root not in response.text  # the server's folders are named, never shown


def test_a_bomb_is_refused_before_it_is_decoded(server):
    client, _ = server
    for route, body in ((IMG2IMG, {"prompt": PROMPT, "init_images": [client.bomb]}),
                        (IMG2IMG, {"prompt": PROMPT, "init_images": [b64(png())], "mask": client.bomb}),
                        ("/sdapi/v1/png-info", {"image": client.bomb})):
        response = client.post(route, json=body)
        assert response.status_code == 400 and "too large" in response.json()["error"]["message"]


GENERATIONS = "/v1/images/generations"
OPENAI_JSON = [
    ("{not json", "body"),
    ({}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": PROMPT, "size": "big"}, "size"),
    ({"prompt": PROMPT, "size": "99999x99999"}, "size"),
    ({"prompt": PROMPT, "size": "0x0"}, "size"),
    ({"prompt": PROMPT, "n": "two"}, "n"),
    ({"prompt": PROMPT, "n": 1000}, "n"),
    ({"prompt": PROMPT, "response_format": "gif"}, "response_format"),
    ({"prompt": "a <lora:../secret:1>"}, "prompt"),
]


@pytest.mark.parametrize("body, param", OPENAI_JSON, ids=[f"{p}-{i}" for i, (_, p) in enumerate(OPENAI_JSON)])
def test_openai_generations_refuse_bad_input_in_openais_shape(server, body, param):
    client, jobs = server
    before = len(jobs.store.jobs())
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post(GENERATIONS, content=content, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]
    assert len(jobs.store.jobs()) == before


def test_openai_uploads_refuse_non_images_bombs_and_missing_files(server):
    client, jobs = server
    before = len(jobs.store.jobs())
    bomb = base64.b64decode(client.bomb)
    cases = [
        ("/v1/images/edits", {"prompt": PROMPT}, {}, "image"),
        ("/v1/images/edits", {"prompt": PROMPT}, {"image": ("x.png", b"plain text", "image/png")}, "image"),
        ("/v1/images/edits", {"prompt": PROMPT}, {"image": ("x.png", bomb, "image/png")}, "image"),
        ("/v1/images/edits", {"prompt": PROMPT}, {"image": ("x.png", png(), "image/png"),
                                                  "mask": ("m.png", b"GIF89a", "image/png")}, "mask"),
        ("/v1/images/edits", {}, {"image": ("x.png", png(), "image/png")}, "prompt"),
        ("/v1/images/variations", {}, {}, "image"),
        ("/v1/images/variations", {"n": "x"}, {"image": ("x.png", png(), "image/png")}, "n"),
        ("/v1/images/variations", {}, {"image": ("x.bmp", b"BM" + b"\0" * 60, "image/bmp")}, "image"),
    ]
    for route, data, files, param in cases:
        response = client.post(route, data=data, files=files or None)
        assert 400 <= response.status_code < 500, (route, param, response.text)
        assert response.json()["error"]["param"] == param, (route, param, response.text)
    assert len(jobs.store.jobs()) == before


def test_huge_bodies_are_refused_on_every_route_kind(server):
    client, _ = server
    big = b"x" * (3 * 1024 * 1024)

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(6):
            yield b" " * (1024 * 1024)

    for route in (TXT2IMG, GENERATIONS, "/sdlab/v1/jobs"):
        declared = client.post(route, content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413, (route, declared.text)
        streamed = client.post(route, content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413, (route, streamed.text)
    upload = client.post("/v1/images/edits", data={"prompt": PROMPT}, files={"image": ("x.png", big, "image/png")})
    assert upload.status_code == 413


def test_the_server_still_serves_after_all_that(server):
    client, _ = server
    response = client.post(TXT2IMG, json={"prompt": PROMPT, "seed": 3, "steps": 12, "width": 64, "height": 64,
                                          "cfg_scale": 5, "sampler_name": "DPM++ 2M"})
    assert response.status_code == 200
    image = Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0])))
    assert judge(image).matches("red", "circle", "white")
    assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0
