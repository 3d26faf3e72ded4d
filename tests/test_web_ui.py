"""The web UI end to end in a real headless Chromium against a real server on the embedded model."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from browser import browser, checked_page
from live_server import free_port, live_server
from sdlab.jobs import JobQueue, JobStore
from sdlab.server.config import ServerConfig
from sdlab.world import judge

PROMPT = "a red circle on a white background"


@pytest.fixture(scope="module")
def chromium():
    with browser() as instance:
        yield instance


@pytest.fixture
def site(engine, tmp_path):
    config = ServerConfig(data_dir=tmp_path / "data", models_dir=tmp_path, port=free_port())
    jobs = JobQueue(engine, JobStore(config.data_dir)).start()
    with live_server(config, jobs) as base:
        yield base
    jobs.stop()


def open_page(page, base: str) -> None:
    """Load the page and wait until it has filled its pickers from the server."""
    page.goto(base)
    page.wait_for_selector("#sampler option[value='DPM++ 2M']", state="attached")


def shown_image(page, selector: str) -> Image.Image:
    """The pixels an <img> shows (read back through a canvas, so blob: URLs work)."""
    data = page.eval_on_selector(selector, """img => { const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight; c.getContext('2d').drawImage(img, 0, 0);
        return c.toDataURL('image/png'); }""")
    return Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB")


def test_generate_from_the_page_shows_the_judged_image(chromium, site):
    with checked_page(chromium, site, "generate") as page:
        open_page(page, site)
        page.fill("#prompt", PROMPT)
        page.fill("#seed", "3")
        page.fill("#steps", "12")
        page.select_option("#sampler", "DPM++ 2M")
        page.press("#prompt", "Control+Enter")
        page.wait_for_selector("#gallery img", timeout=60_000)
        image = shown_image(page, "#gallery img")
        assert image.size == (64, 64) and judge(image).matches("red", "circle", "white")
        assert page.get_attribute("#gallery img", "data-seed") == "3"
        page.click("#seed-random")
        assert page.input_value("#seed") == "-1"
        page.click("#seed-reuse")
        assert page.input_value("#seed") == "3"


def test_a_running_job_is_cancelled_from_the_page(chromium, site):
    with checked_page(chromium, site, "cancel") as page:
        open_page(page, site)
        page.fill("#prompt", PROMPT)
        page.fill("#steps", "150")
        page.fill("#batch_count", "8")
        page.click("#generate-button")
        page.wait_for_function("document.getElementById('progress-text').textContent.includes('step')",
                               timeout=60_000)
        page.wait_for_selector("#queue li.mine")
        assert "(yours), running" in page.text_content("#queue li.mine")
        assert page.get_attribute("#preview", "src").startswith("data:image/png")  # a step preview
        page.click("#cancel")
        page.wait_for_function("document.getElementById('status').textContent.includes('cancelled')",
                               timeout=60_000)
        assert page.locator("#gallery img").count() < 8


def test_a_bad_value_is_named_on_the_page(chromium, site):
    with checked_page(chromium, site, "bad-value", expected_statuses=(400,)) as page:
        open_page(page, site)
        page.fill("#prompt", PROMPT)
        page.fill("#width", "4096")  # allowed by the field, refused by the server's limit
        page.click("#generate-button")
        page.wait_for_function("document.getElementById('status').classList.contains('error')")
        assert page.text_content("#status").startswith("width:")
        assert page.evaluate("document.activeElement.id") == "width"


def test_with_a_key_the_page_asks_once_and_keeps_it(chromium, engine, tmp_path):
    config = ServerConfig(data_dir=tmp_path / "data", models_dir=tmp_path, port=free_port(), api_key="s3cret")
    jobs = JobQueue(engine, JobStore(config.data_dir)).start()
    with live_server(config, jobs) as base, \
            checked_page(chromium, base, "api-key", width=390, expected_statuses=(401,)) as page:
        page.goto(base)  # the page itself needs no key; its first API call does
        page.wait_for_selector("#key-dialog[open]")
        page.fill("#key", "s3cret")
        page.press("#key", "Enter")
        page.wait_for_selector("#sampler option", state="attached")
        assert page.evaluate("localStorage.getItem('sdlab-api-key')") == "s3cret"
        page.reload()
        page.wait_for_selector("#sampler option", state="attached")
        assert not page.is_visible("#key-dialog")
    jobs.stop()


A1111_INFOTEXT = ("a blue square on a black background\nNegative prompt: blurry\nSteps: 17, Sampler: DPM++ 2M Karras, "
                  "CFG scale: 6.5, Seed: 42, Size: 64x64, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")


def a1111_png(path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_INFOTEXT)
    Image.new("RGB", (64, 64), "black").save(path, pnginfo=info)
    return path


def assert_form_has_the_a1111_parameters(page):
    assert page.input_value("#prompt") == "a blue square on a black background"
    assert page.input_value("#negative_prompt") == "blurry"
    assert [page.input_value(f"#{name}") for name in ("steps", "cfg", "seed", "width", "height")] == \
        ["17", "6.5", "42", "64", "64"]
    assert page.input_value("#sampler") == "DPM++ 2M" and page.input_value("#schedule") == "karras"


def test_a_dropped_or_picked_a1111_png_fills_the_form(chromium, site, tmp_path):
    png = a1111_png(tmp_path / "from-a1111.png")
    with checked_page(chromium, site, "dropped-png") as page:
        open_page(page, site)
        data = base64.b64encode(png.read_bytes()).decode()
        page.evaluate("""data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], 'from-a1111.png', {type: 'image/png'}));
            document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
        }""", data)
        page.wait_for_function("document.getElementById('status').textContent.includes('from-a1111.png')")
        assert_form_has_the_a1111_parameters(page)
        page.reload()
        page.wait_for_selector("#sampler option[value='DPM++ 2M']", state="attached")
        page.set_input_files("#read-parameters", str(png))  # the keyboard's way: a file picker
        page.wait_for_function("document.getElementById('status').textContent.includes('from-a1111.png')")
        assert_form_has_the_a1111_parameters(page)


def test_reuse_parameters_from_the_gallery(chromium, site):
    import httpx

    job = httpx.post(f"{site}/sdlab/v1/jobs", json={"prompt": PROMPT, "seed": 11, "steps": 6, "batch_size": 2,
                                                     "negative_prompt": "blurry"}).json()
    for _ in range(600):
        if httpx.get(f"{site}/sdlab/v1/jobs/{job['id']}").json()["state"] == "done":
            break
        __import__("time").sleep(0.05)
    with checked_page(chromium, site, "gallery-reuse") as page:
        page.goto(site)
        page.wait_for_selector("#gallery img[data-seed='12']")
        page.click("#gallery figure:has(img[data-seed='12']) .reuse")
        assert page.input_value("#prompt") == PROMPT and page.input_value("#negative_prompt") == "blurry"
        assert page.input_value("#seed") == "12" and page.input_value("#steps") == "6"
        assert page.input_value("#batch_size") == "1"
        href = page.get_attribute("#gallery figure:has(img[data-seed='12']) a", "href")
        assert href.startswith("blob:")  # the download link holds the PNG itself


def mask_alpha(page, x: int, y: int) -> int:
    return page.evaluate(f"document.getElementById('mask-canvas').getContext('2d').getImageData({x}, {y}, 1, 1).data[3]")


def test_a_mask_painted_over_half_of_an_upload_keeps_the_other_half(chromium, site, tmp_path):
    scene = tmp_path / "scene.png"
    Image.new("RGB", (64, 64), "black").save(scene)
    with checked_page(chromium, site, "inpaint") as page:
        open_page(page, site)
        page.set_input_files("#source-file", str(scene))
        page.wait_for_selector("#source-tools", state="visible")
        page.evaluate("document.getElementById('mask-size').value = 32")
        box = page.locator("#mask-canvas").bounding_box()
        x = box["x"] + box["width"] * 0.25  # image x = 16, a 32-pixel brush covers x 0..32
        page.mouse.move(x, box["y"] + 1)
        page.mouse.down()
        for step in range(1, 9):
            page.mouse.move(x, box["y"] + box["height"] * step / 8 - 1)
        page.mouse.up()
        assert mask_alpha(page, 8, 32) > 127 and mask_alpha(page, 56, 32) == 0
        page.click("#mask-invert")
        assert mask_alpha(page, 8, 32) == 0 and mask_alpha(page, 56, 32) == 255
        page.click("#mask-undo")
        assert mask_alpha(page, 8, 32) > 127 and mask_alpha(page, 56, 32) == 0

        page.fill("#prompt", "a red circle on a black background")
        page.fill("#seed", "3")
        page.fill("#steps", "12")
        page.select_option("#sampler", "DPM++ 2M")
        page.click("#generate-button")
        page.wait_for_selector("#gallery img", timeout=60_000)
        page.wait_for_function("document.querySelector('#gallery img').complete && "
                               "document.querySelector('#gallery img').naturalWidth > 0")
        out = shown_image(page, "#gallery img")
        right = [out.getpixel((x, y)) for x in range(40, 64) for y in range(64)]
        assert max(max(pixel) for pixel in right) <= 3  # outside the mask the black input comes back
        assert max(max(out.getpixel((x, y))) for x in range(0, 28) for y in range(64)) > 60  # inside: redrawn
        page.click("#mask-clear")
        assert mask_alpha(page, 8, 32) == 0


def test_the_lora_picker_adds_the_tag_and_shows_trigger_words(chromium, engine, tmp_path):
    import httpx
    import torch
    from safetensors.torch import save

    from sdlab.requests import build_request

    unet = engine.load(build_request(prompt="x")).pipe.unet  # a rank-2 kohya LoRA on one real layer, all zeros
    name, layer = next((n, m) for n, m in unet.named_modules() if n.endswith("attn1.to_q"))
    key = "lora_unet_" + name.replace(".", "_")
    loras = tmp_path / "loras"
    loras.mkdir()
    (loras / "subject.safetensors").write_bytes(save(
        {f"{key}.lora_down.weight": torch.zeros(2, layer.in_features),
         f"{key}.lora_up.weight": torch.zeros(layer.out_features, 2), f"{key}.alpha": torch.tensor(2.0)},
        metadata={"modelspec.trigger_phrase": "sks circle, shiny"}))
    config = ServerConfig(data_dir=tmp_path / "data", models_dir=tmp_path, lora_dir=loras, port=free_port())
    jobs = JobQueue(engine, JobStore(config.data_dir)).start()
    with live_server(config, jobs) as base, checked_page(chromium, base, "lora-picker") as page:
        page.goto(base)
        page.wait_for_selector("#lora-pick option[value='subject']", state="attached")
        assert page.is_visible("#lora-picker") and "kohya, rank 2" in page.text_content("#lora-about")
        assert page.locator("#lora-triggers .trigger").all_text_contents() == ["sks circle", "shiny"]
        page.fill("#prompt", "a red circle")
        page.click("#lora-triggers .trigger >> text=sks circle")
        page.fill("#lora-weight", "0.8")
        page.click("#lora-add")
        assert page.input_value("#prompt") == "a red circle, sks circle, <lora:subject:0.8>"
        page.fill("#steps", "2")
        page.click("#generate-button")
        page.wait_for_function("document.getElementById('status').textContent.includes('done')", timeout=60_000)
        job = httpx.get(f"{base}/sdlab/v1/jobs").json()["jobs"][-1]
        assert job["request"]["prompt"].endswith("<lora:subject:0.8>") and job["state"] == "done"
        assert "subject" in job["images"][0]["infotext"]  # the LoRA was applied and recorded
    jobs.stop()


def test_a_two_by_two_sweep_from_the_page_shows_its_grid_table_and_plots(chromium, site):
    with checked_page(chromium, site, "sweep") as page:
        page.goto(site)
        page.wait_for_selector("#x-name option[value='cfg']", state="attached")
        page.click("#preset-guidance")  # fills the X axis with the exercise's values, and the prompt
        assert page.input_value("#x-values") == "1,3,5,7.5,10,15" and page.input_value("#prompt") == PROMPT
        page.click("#preset-strength")  # needs a source image: says so and changes nothing
        assert "source image" in page.text_content("#sweep-status") and page.input_value("#x-name") == "cfg"
        page.fill("#x-values", "1,5")
        page.select_option("#y-name", "steps")
        page.fill("#y-values", "4,8")
        page.fill("#seed", "1")
        page.click("#sweep-run")
        page.wait_for_selector("#sweep-grid", timeout=120_000)
        page.wait_for_function("document.getElementById('sweep-grid').naturalWidth > 0")
        assert page.locator("#sweep-table tbody tr").count() == 4
        header = page.locator("#sweep-table th").all_text_contents()
        assert header[:2] == ["cfg", "steps"] and "adherence" in header  # judged on the embedded model
        assert page.locator(".plots img").count() >= 2
        assert "done" in page.text_content("#sweep-status")
