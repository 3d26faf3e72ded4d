"""The A1111 API, driven by the unmodified `webuiapi` client against a real server on a free local port,
on the embedded model: the judge checks the images mean what was asked, the infotext carries the seed."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import pytest
import webuiapi
from PIL import Image

from live_server import free_port, live_server
from sdlab.jobs import JobQueue, JobStore
from sdlab.server.config import ServerConfig
from sdlab.world import judge

PROMPT = "a red circle on a white background"


@pytest.fixture(scope="module")
def api(tmp_path_factory, sd1_dir):
    from sdlab.api import default_engine

    data = tmp_path_factory.mktemp("a1111")
    models = data / "models"
    models.mkdir()
    (models / "tiny").symlink_to(sd1_dir)
    config = ServerConfig(data_dir=data / "jobs", models_dir=models, port=free_port())
    jobs = JobQueue(default_engine(), JobStore(config.data_dir)).start()
    with live_server(config, jobs):
        yield webuiapi.WebUIApi(host="127.0.0.1", port=config.port, sampler="DPM++ 2M", steps=20)
    jobs.stop()


def test_txt2img_draws_the_prompt_with_its_seed(api):
    result = api.txt2img(prompt=PROMPT, seed=11, width=64, height=64, cfg_scale=5, batch_size=2)
    assert len(result.images) == 2 and all(judge(image).matches("red", "circle", "white") for image in result.images)
    assert result.info["all_seeds"] == [11, 12] and result.info["seed"] == 11
    assert "Seed: 12" in result.info["infotexts"][1] and "Seed: 11" in result.images[0].info["parameters"]
    assert result.parameters["prompt"] == PROMPT


def test_img2img_and_inpaint_with_a_mask(api):
    source = Image.new("RGB", (64, 64), "white")
    out = api.img2img(images=[source], prompt="a blue square on a white background", seed=3, width=64, height=64,
                      cfg_scale=5, denoising_strength=0.9)
    assert judge(out.image).matches("blue", "square", "white")
    scene = Image.new("RGB", (64, 64), "black")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    painted = api.img2img(images=[scene], mask_image=mask, prompt="a red circle on a black background", seed=3,
                          width=64, height=64, cfg_scale=5, denoising_strength=1.0, inpaint_full_res=False)
    right = [painted.image.getpixel((x, y)) for x in range(40, 64) for y in range(0, 64, 4)]
    assert max(max(p) for p in right) <= 3  # outside the mask the black input comes back
    assert json.loads(json.dumps(painted.info))["infotexts"][0].count("Mask blur") == 1


def test_several_init_images_are_one_batch_each_with_its_own_seed(api):
    light, dark = Image.new("RGB", (64, 64), "white"), Image.new("RGB", (64, 64), "black")
    out = api.img2img(images=[light, dark], prompt="a red circle", seed=7, batch_size=2, n_iter=2, width=64, height=64,
                      cfg_scale=5, denoising_strength=0.3)
    assert out.info["all_seeds"] == [7, 8, 9, 10] and len(out.images) == 4
    brightness = [sum(image.convert("L").getdata()) / 64 / 64 for image in out.images]
    assert min(brightness[0::2]) > 200 and max(brightness[1::2]) < 60  # image i is item i of every batch
    assert [f"Seed: {seed}," in text for seed, text in zip([7, 8, 9, 10], out.info["infotexts"])] == [True] * 4
    with pytest.raises(RuntimeError, match="init_images"):
        api.img2img(images=[light, dark, light], prompt=PROMPT, batch_size=2, width=64, height=64, steps=2)


def test_listings_options_and_model_switch(api):
    assert "DPM++ 2M" in [s["name"] for s in api.get_samplers()]
    assert "karras" in [s["name"] for s in api.get_schedulers()]
    titles = [m["title"] for m in api.get_sd_models()]
    assert titles[:1] == ["sdlab-shapes"] and "tiny" in titles
    assert api.util_get_current_model() == "sdlab-shapes"
    api.util_set_model("tiny")
    try:
        assert api.util_get_current_model() == "tiny"
        small = api.txt2img(prompt="a cat", width=32, height=32, steps=2)
        assert small.info["sd_model_name"] == "tiny"
        options = api.get_options()
        api.set_options(options)  # posting the whole GET body back works (Open WebUI does this)
    finally:
        api.util_set_model("sdlab-shapes")
    assert api.util_get_current_model() == "sdlab-shapes"


def test_progress_idle_and_interrupt(api):
    idle = api.get_progress()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0
    api.util_wait_for_ready(check_interval=0.1)
    outcome = {}

    def long_run():
        outcome["result"] = api.txt2img(prompt=PROMPT, width=64, height=64, steps=150, n_iter=4, seed=1)

    runner = threading.Thread(target=long_run)
    runner.start()
    deadline = time.time() + 60
    while time.time() < deadline:
        progress = api.get_progress()
        if progress["state"]["sampling_step"] > 0:
            break
        time.sleep(0.05)
    assert 0 < progress["progress"] < 1 and progress["state"]["job_count"] == 4
    preview = Image.open(io.BytesIO(base64.b64decode(progress["current_image"])))  # raw base64, as A1111's
    assert preview.format == "PNG" and preview.size == (64, 64)
    skipped = api.session.get(f"{api.baseurl}/progress", params={"skip_current_image": "true"}).json()
    assert skipped["current_image"] is None
    api.interrupt()
    runner.join(120)
    assert len(outcome["result"].images) < 4  # stopped: only the finished images come back


def test_unsupported_fields_are_listed_as_ignored_and_png_info_reads_back(api):
    result = api.txt2img(prompt=PROMPT, width=64, height=64, steps=4, enable_hr=True, restore_faces=True, seed=5)
    assert {"enable_hr", "restore_faces"} <= set(result.info["ignored"])
    read = api.png_info(result.image)
    assert read.info and read.parameters["Seed"] == "5"


def test_openai_client_generations_and_edits(api):
    """The unmodified openai client: n=2 generations judged; an edit with a transparent mask keeps the rest."""
    import base64
    import io

    import openai

    client = openai.OpenAI(base_url=f"{api.baseurl.removesuffix('/sdapi/v1')}/v1", api_key="unused", max_retries=0)
    made = client.images.generate(prompt=PROMPT, model="dall-e-3", n=2, size="64x64", response_format="b64_json")
    pictures = [Image.open(io.BytesIO(base64.b64decode(item.b64_json))) for item in made.data]
    assert len(pictures) == 2 and all(judge(p).matches("red", "circle", "white") for p in pictures)
    seeds = [p.info["parameters"].split("Seed: ")[1].split(",")[0] for p in pictures]
    assert int(seeds[1]) == int(seeds[0]) + 1

    scene = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 64))  # transparent left half: edit it
    files = {}
    for name, image in (("scene", scene), ("mask", mask)):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        files[name] = ("x.png", buffer.getvalue(), "image/png")
    edited = client.images.edit(image=files["scene"], mask=files["mask"], prompt="a red circle on a black background",
                                size="64x64", response_format="b64_json")
    out = Image.open(io.BytesIO(base64.b64decode(edited.data[0].b64_json))).convert("RGB")
    assert all(out.getpixel((x, y)) == (0, 0, 0) for x in range(32, 64) for y in range(64))  # outside: unchanged
    assert [m.id for m in client.models.list().data][0] == "sdlab-shapes"
    with __import__("pytest").raises(openai.BadRequestError) as info:
        client.images.generate(prompt=PROMPT, size="big")
    assert info.value.body["param"] == "size"
