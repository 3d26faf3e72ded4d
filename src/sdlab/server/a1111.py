"""AUTOMATIC1111's `/sdapi/v1` API over the job queue, for the clients that speak it (webuiapi, Open WebUI, ...).

Field names, defaults and response shapes are A1111's (shared/reference/a1111-openai-api.md): images out as
raw base64 PNGs carrying the `parameters` chunk, `info` a JSON *string* with the effective seeds and
infotexts, `parameters` the request echoed. Unknown keys and explicit nulls are accepted (null = default);
fields asking for features sdlab does not have are listed in `info["ignored"]` rather than dropped silently.
Each call is a job: overlapping calls queue in order, each with its own seeds, and `progress`, `interrupt`
and `skip` act on the running one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from typing import Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from PIL import ImageOps

from sdlab import __version__
from sdlab.engine.lora_info import list_loras
from sdlab.engine.samplers import SAMPLERS, SCHEDULES
from sdlab.engine.sources import EMBEDDED_NAME, list_models
from sdlab.errors import UsageError
from sdlab.jobs import Job, JobQueue, JobState
from sdlab.requests import GenerationRequest
from sdlab.requests.infotext import parse_infotext
from sdlab.requests.result import SEED_RANGE
from sdlab.server.boundary import client_field, decode_image, encode_image, json_body, json_body_schema, to_request
from sdlab.server.config import ServerConfig

#: A1111's API defaults for the fields sdlab maps (its API default for steps is 50, not the UI's 20).
DEFAULTS = {"prompt": "", "negative_prompt": "", "seed": -1, "subseed": -1, "subseed_strength": 0.0,
            "sampler_name": None, "sampler_index": "Euler", "scheduler": None, "batch_size": 1, "n_iter": 1,
            "steps": 50, "cfg_scale": 7.0, "width": 512, "height": 512, "denoising_strength": 0.75, "resize_mode": 0,
            "mask_blur": 4, "inpaint_full_res": True, "inpaint_full_res_padding": 0, "inpainting_mask_invert": 0}
RESIZE_MODES = {0: "resize", 1: "crop", 2: "fill", 3: "resize"}
#: Features sdlab does not implement: a field is listed as ignored when its value asks for one.
UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "enable_hr": lambda v: v is True, "restore_faces": lambda v: v is True, "tiling": lambda v: v is True,
    "styles": bool, "script_name": bool, "alwayson_scripts": bool, "refiner_checkpoint": bool, "latent_mask": bool,
    "seed_resize_from_w": lambda v: isinstance(v, int) and v > 0,
    "seed_resize_from_h": lambda v: isinstance(v, int) and v > 0,
    "inpainting_fill": lambda v: v not in (None, 1)}


def _wait_all(jobs: JobQueue, submitted: list[Job]) -> list[Job]:
    """Wait for the jobs of one call in order; once one is interrupted (or fails) the rest are cancelled, as A1111's
    interrupt ends the whole call."""
    finished = []
    for job in submitted:
        done = jobs.wait(job.id)
        finished.append(done)
        if done.state is not JobState.done:
            for later in submitted[len(finished):]:
                jobs.cancel(later.id)
            finished += [jobs.wait(later.id) for later in submitted[len(finished):]]
            break
    return finished


#: sdlab's request fields under A1111's names, so an error names the field the client sent.
A1111_NAMES = {"cfg": "cfg_scale", "strength": "denoising_strength", "sampler": "sampler_name", "schedule": "scheduler",
               "batch_count": "n_iter", "image": "init_images", "variation_strength": "subseed_strength",
               "variation_seed": "subseed", "inpaint_only_masked": "inpaint_full_res",
               "inpaint_padding": "inpaint_full_res_padding", "model": "sd_model_checkpoint"}


def a1111_schema(task: str, config: ServerConfig) -> dict[str, Any]:
    """The JSON schema of an A1111 txt2img/img2img body, as far as sdlab reads it (other keys are accepted), with
    this server's limits."""
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string"}
    properties: dict[str, Any] = {name: {"type": [kinds[type(value)], "null"]} if value is not None else {}
                                  for name, value in DEFAULTS.items()}
    for name, most in (("width", config.max_side), ("height", config.max_side), ("steps", config.max_steps),
                       ("batch_size", config.max_images), ("n_iter", config.max_images)):
        properties[name].update(minimum=1, maximum=most, **({"multipleOf": 8} if name in ("width", "height") else {}))
    properties["override_settings"] = {"type": ["object", "null"]}
    if task == "img2img":
        properties["init_images"] = {"type": "array", "items": {"type": "string"}, "minItems": 1}
        properties["mask"] = {"type": ["string", "null"]}
    return {"type": "object", "properties": properties, "additionalProperties": True,
            **({"required": ["init_images"]} if task == "img2img" else {})}


class ServedModel:
    """The model A1111's options report as loaded (`sd_model_checkpoint`); POST /options switches it."""

    def __init__(self) -> None:
        self.name = EMBEDDED_NAME


def model_titles(config: ServerConfig) -> list[dict]:
    return [{"title": row.name, "model_name": row.name.removesuffix(".safetensors"), "hash": None, "sha256": None,
             "filename": row.path, "config": None}
            for row in list_models(config.models_folder) if row.kind != "unreadable"]


def _model_name(title: str, config: ServerConfig) -> str:
    """A checkpoint title, file name or model name (as webuiapi and Open WebUI send them) -> sdlab's model name."""
    wanted = title.split(" [")[0].strip()
    for model in model_titles(config):
        if wanted in (model["title"], model["model_name"]):
            return model["title"]
    raise UsageError("sd_model_checkpoint", f"model {title!r} not found; see /sdapi/v1/sd-models")


def to_fields(body: dict[str, Any], task: str, config: ServerConfig, served: ServedModel) -> tuple[dict, list[str]]:
    """An A1111 txt2img/img2img body as sdlab request fields (for the trust boundary), and the ignored fields."""
    given = {k: v for k, v in body.items() if v is not None}
    a = {**DEFAULTS, **given}
    ignored = sorted(k for k, test in UNSUPPORTED.items() if k in given and test(given[k]))
    override = a.get("override_settings") or {}
    if not isinstance(override, dict):
        raise UsageError("override_settings", "must be an object")
    ignored += sorted(f"override_settings.{k}" for k in override if k != "sd_model_checkpoint")
    model = _model_name(str(override["sd_model_checkpoint"]), config) if override.get("sd_model_checkpoint") \
        else served.name
    schedule = a.get("scheduler")
    fields: dict[str, Any] = {
        "task": task, "prompt": a["prompt"], "negative_prompt": a["negative_prompt"], "model": model,
        "sampler": a.get("sampler_name") or a.get("sampler_index") or "Euler",
        "schedule": None if schedule in (None, "", "automatic", "Automatic") else schedule,
        "seed": -1 if a["seed"] in ("", None) else a["seed"], "batch_size": a["batch_size"], "batch_count": a["n_iter"],
        "steps": a["steps"], "cfg": a["cfg_scale"], "width": a["width"], "height": a["height"]}
    if isinstance(a["subseed_strength"], (int, float)) and a["subseed_strength"] > 0:
        fields["variation_strength"] = a["subseed_strength"]
        fields["variation_seed"] = a["subseed"] if a["subseed"] not in ("", None) else -1
    if task == "txt2img":
        return fields, ignored
    images = a.get("init_images")
    if not isinstance(images, list) or not images:
        raise UsageError("init_images", "img2img needs init_images: a list of base64 images")
    if len(images) > 1 and (not isinstance(a["batch_size"], int) or len(images) > a["batch_size"]):
        raise UsageError("init_images", f"{len(images)} images for batch_size {a['batch_size']}: each image is one "
                         "item of the batch, so give at most batch_size images (or one, used for every item)")
    fields.update(image=images[0], strength=a["denoising_strength"],
                  resize_mode=RESIZE_MODES.get(a["resize_mode"], a["resize_mode"]))
    if a.get("mask"):
        mask = decode_image(a["mask"], "mask")
        if a.get("inpainting_mask_invert"):
            mask = ImageOps.invert(_mask_channel(mask))
        fields.update(task="inpaint", mask=encode_image(mask), mask_blur=a["mask_blur"],
                      inpaint_only_masked=bool(a["inpaint_full_res"]), inpaint_padding=a["inpaint_full_res_padding"])
    return fields, ignored


def requests_for(body: dict[str, Any], fields: dict[str, Any], config: ServerConfig) -> list[GenerationRequest]:
    """The jobs of one A1111 call: one request, or with several init_images one per image and batch position,
    each with the seed A1111 gives that position (image i of batch b: seed + b * images + i)."""
    first = to_request(fields, config, A1111_NAMES)
    images = body.get("init_images") or []
    if len(images) < 2:
        return [first]
    seed = first.seed if first.seed != -1 else secrets.randbelow(SEED_RANGE)
    requests = []
    for position in range(len(images) * first.batch_count):
        one = {**fields, "image": images[position % len(images)], "batch_size": 1, "batch_count": 1,
               "seed": (seed + position) % SEED_RANGE}
        if first.variation_strength:
            base = first.variation_seed if first.variation_seed != -1 else secrets.randbelow(SEED_RANGE)
            one["variation_seed"] = (base + position) % SEED_RANGE
        requests.append(to_request(one, config, A1111_NAMES))
    return requests


def _mask_channel(mask):
    return mask.getchannel("A") if mask.mode in ("RGBA", "LA") else mask.convert("L")


def response(finished: list[Job], body: dict, store, ignored: list[str]) -> dict:
    """The finished jobs of one call as A1111's TextToImageResponse / ImageToImageResponse."""
    images = [base64.b64encode(path.read_bytes()).decode() for job in finished for path in store.images(job)]
    records = [record for job in finished for record in job.result.get("images", [])]
    resolved = next((job.result["resolved"] for job in finished if job.result.get("resolved")), {})
    job = finished[0]
    seeds = [r["seed"] for r in records]
    info = {
        "prompt": resolved.get("prompt", body.get("prompt", "")), "all_prompts": [resolved.get("prompt", "")] * len(seeds),
        "negative_prompt": resolved.get("negative_prompt", ""),
        "all_negative_prompts": [resolved.get("negative_prompt", "")] * len(seeds),
        "seed": seeds[0] if seeds else resolved.get("seed"), "all_seeds": seeds,
        "subseed": resolved.get("variation_seed") or -1, "all_subseeds": [resolved.get("variation_seed") or -1] * len(seeds),
        "subseed_strength": resolved.get("variation_strength") or 0, "width": resolved.get("width"),
        "height": resolved.get("height"), "sampler_name": resolved.get("sampler"), "cfg_scale": resolved.get("cfg"),
        "steps": resolved.get("steps"), "batch_size": resolved.get("batch_size"), "restore_faces": False,
        "face_restoration_model": None, "sd_model_name": resolved.get("model_name"),
        "sd_model_hash": resolved.get("model_hash"), "sd_vae_name": None, "sd_vae_hash": None,
        "seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": resolved.get("strength"),
        "extra_generation_params": {}, "index_of_first_image": 0, "infotexts": [r["infotext"] for r in records],
        "styles": [], "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(job.created)), "clip_skip": 1,
        "is_using_inpainting_conditioning": False, "version": f"sdlab {__version__}", "ignored": ignored}
    parameters = {**DEFAULTS, **{k: v for k, v in body.items() if k not in ("init_images", "mask")}}
    return {"images": images, "parameters": parameters, "info": json.dumps(info)}


def a1111_router(config: ServerConfig, jobs: JobQueue, served: ServedModel) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1")

    async def generate(request: Request, task: str) -> JSONResponse:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise UsageError("body", "must be a JSON object")
        fields, ignored = to_fields(body, task, config, served)
        submitted = jobs.submit_all(requests_for(body, fields, config))
        finished = await asyncio.to_thread(_wait_all, jobs, submitted)
        for done in finished:
            if done.state is JobState.failed:
                message = config.without_paths(done.error or "failed")
                if done.error_field:
                    raise UsageError(client_field(done.error_field, A1111_NAMES), message)
                return JSONResponse({"error": "RuntimeError", "detail": message, "body": "", "errors": message},
                                    status_code=500)
        return JSONResponse(response(finished, body, jobs.store, ignored))

    @router.post("/txt2img", openapi_extra=json_body_schema(a1111_schema("txt2img", config)))
    async def txt2img(request: Request):
        return await generate(request, "txt2img")

    @router.post("/img2img", openapi_extra=json_body_schema(a1111_schema("img2img", config)))
    async def img2img(request: Request):
        return await generate(request, "img2img")

    @router.get("/progress")
    def progress(skip_current_image: bool = False) -> dict:
        running = jobs.progress()
        idle = {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "", "job_count": 0,
                "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
        if running is None:
            return {"progress": 0, "eta_relative": 0, "state": idle, "current_image": None, "textinfo": None}
        job, event = running
        count = int(job.request.get("batch_count", 1))
        done = 0.0 if event is None else (event.batch + event.step / event.total) / count
        fraction = min(1.0, 0.01 + done)
        elapsed = time.time() - (job.started or time.time())
        state = {**idle, "job": f"scripts_{job.request.get('task', 'txt2img')}", "job_count": count,
                 "job_no": event.batch if event else 0, "sampling_step": event.step if event else 0,
                 "sampling_steps": event.total if event else 0,
                 "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(job.created))}
        previews = event.previews() if event is not None and not skip_current_image else []
        return {"progress": fraction, "eta_relative": max(0.0, elapsed / fraction - elapsed), "state": state,
                "current_image": encode_image(previews[0]) if previews else None, "textinfo": None}

    @router.post("/interrupt")
    def interrupt() -> dict:
        running = jobs.progress()
        if running is not None:
            jobs.cancel(running[0].id)
        return {}

    @router.post("/skip")
    def skip() -> None:
        running = jobs.progress()
        if running is not None:
            jobs.skip(running[0].id)

    @router.get("/options")
    def get_options() -> dict:
        return {"sd_model_checkpoint": served.name, "sd_checkpoint_hash": None, "samples_format": "png",
                "CLIP_stop_at_last_layers": 1, "sd_vae": "Automatic", "enable_pnginfo": True}

    @router.post("/options")
    async def set_options(request: Request) -> None:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise UsageError("body", "must be a JSON object of options")
        if body.get("sd_model_checkpoint"):
            served.name = _model_name(str(body["sd_model_checkpoint"]), config)

    @router.get("/sd-models")
    def sd_models() -> list:
        return model_titles(config)

    @router.post("/refresh-checkpoints")
    def refresh() -> None:
        return None

    @router.get("/samplers")
    def samplers() -> list:
        return [{"name": s.name, "aliases": list(s.aliases), "options": {}} for s in SAMPLERS]

    @router.get("/schedulers")
    def schedulers() -> list:
        return [{"name": name.replace(" ", "_"), "label": name.title() if name != "sgm uniform" else "SGM Uniform",
                 "aliases": None, "default_rho": 7.0 if name == "karras" else -1, "need_inner_model": False}
                for name in SCHEDULES]

    @router.get("/loras")
    def loras() -> list:
        folder = config.loras_folder
        rows = list_loras(folder) if folder.is_dir() else []
        return [{"name": row.name, "alias": row.name, "path": row.name, "metadata": {}} for row in rows
                if not row.format.startswith("unreadable")]

    @router.post("/png-info")
    async def png_info(request: Request) -> dict:
        body = await json_body(request)
        image = decode_image(body.get("image") if isinstance(body, dict) else None, "image")
        text = image.info.get("parameters") or ""
        items = {k: v for k, v in image.info.items() if isinstance(v, str) and k != "parameters"}
        return {"info": text, "items": items, "parameters": parse_infotext(text) if text else {}}

    @router.get("/upscalers")
    def upscalers() -> list:
        return []

    @router.get("/memory")
    def memory() -> dict:
        import torch

        from sdlab.engine.memory import free_bytes

        free = free_bytes(torch.device("cpu")) or 0
        return {"ram": {"free": free, "used": 0, "total": 0}, "cuda": {"error": "unavailable"}}

    @router.get("/cmd-flags")
    def cmd_flags() -> dict:
        return {"api": True, "listen": config.host not in ("127.0.0.1", "localhost"), "port": config.port,
                "nowebui": True, "api_auth": None}

    @router.get("/embeddings")
    def embeddings() -> dict:
        return {"loaded": {}, "skipped": {}}

    @router.get("/prompt-styles")
    def styles() -> list:
        return []

    @router.get("/scripts")
    def scripts() -> dict:
        return {"txt2img": [], "img2img": []}

    return router
