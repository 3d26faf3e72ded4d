"""OpenAI's Images API over the job queue, for the official `openai` client and what speaks like it.

`POST /v1/images/generations` (JSON), `/v1/images/edits` and `/v1/images/variations` (multipart: `image`
or `image[]`, `mask`), `GET /v1/models`. Unknown model names such as `dall-e-3` mean the served model;
`size` is `WxH` or `auto`; OpenAI's mask convention holds (transparent = edit, the rest comes back
unchanged). Errors come in OpenAI's `{"error": {message, type, param, code}}` shape, and a failure
says `x-should-retry: false` so the client does not run a long generation again.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from PIL import Image

from sdlab.engine.images import open_image
from sdlab.errors import SdlabError, UsageError
from sdlab.jobs import JobQueue, JobState
from sdlab.server.a1111 import ServedModel, model_titles
from sdlab.server.boundary import client_field, encode_image, json_body, json_body_schema, to_request
from sdlab.server.config import ServerConfig
from sdlab.server.errors import http_status, retry_headers

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
VARIATION_STRENGTH = 0.6  # how far a variation moves from its image
EDIT_STRENGTH = 0.75  # an edit without any transparency: image-to-image
RESPONSE_FORMATS = ("b64_json", "url")
GENERATIONS_SCHEMA = {"type": "object", "required": ["prompt"], "additionalProperties": True, "properties": {
    "prompt": {"type": "string"}, "model": {"type": "string"}, "n": {"type": "integer"},
    "size": {"type": "string", "description": "WxH or auto"}, "response_format": {"enum": list(RESPONSE_FORMATS)}}}
UPLOAD_FIELDS = {name: GENERATIONS_SCHEMA["properties"][name] for name in ("model", "n", "size", "response_format")}


def upload_schema(*files: str, prompt: bool) -> dict[str, Any]:
    """FastAPI's openapi_extra for a multipart route taking `files` and OpenAI's form fields."""
    properties = {**UPLOAD_FIELDS, **{name: {"type": "string", "format": "binary"} for name in files},
                  "prompt": {"type": "string"}}
    required = [files[0]] + (["prompt"] if prompt else [])
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}}
#: sdlab's request fields under OpenAI's names, so an error names the parameter the client sent.
OPENAI_NAMES = {"batch_size": "n", "width": "size", "height": "size"}


def openai_error(status: int, message: str, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": None}},
                        status_code=status, headers={"x-should-retry": "false", **(headers or {})})


def _common(form: dict[str, Any], config: ServerConfig, served: ServedModel) -> dict[str, Any]:
    """prompt, model, n and size as request fields."""
    names = {m["title"] for m in model_titles(config)} | {m["model_name"] for m in model_titles(config)}
    model = form.get("model")
    fields: dict[str, Any] = {"model": model if model in names else served.name}
    try:
        fields["batch_size"] = int(form.get("n") or 1)
    except (TypeError, ValueError):
        raise UsageError("n", f"must be a whole number, got {form.get('n')!r}") from None
    size = form.get("size") or "auto"
    if size != "auto":
        match = _SIZE.match(str(size))
        if match is None:
            raise UsageError("size", f"must be WxH (e.g. 512x512) or auto, got {size!r}")
        fields["width"], fields["height"] = (int(v) // 8 * 8 for v in match.groups())
    if form.get("prompt") is not None:
        fields["prompt"] = str(form["prompt"])
    return fields


async def _read_image(value: Any, field: str) -> Image.Image:
    if value is None or not hasattr(value, "read"):
        raise UsageError(field, "must be an uploaded image file (multipart)")
    return open_image(await value.read(), field)


def openai_router(config: ServerConfig, jobs: JobQueue, served: ServedModel) -> APIRouter:
    router = APIRouter(prefix="/v1")

    async def run(request: Request, fields: dict[str, Any], response_format: Any) -> JSONResponse:
        if response_format not in RESPONSE_FORMATS:
            raise UsageError("response_format", f"must be one of {', '.join(RESPONSE_FORMATS)}, got {response_format!r}")
        job = jobs.submit(to_request(fields, config, OPENAI_NAMES))
        done = await asyncio.to_thread(jobs.wait, job.id, None)
        if done.state is JobState.failed:
            return openai_error(400 if done.error_field else 500, config.without_paths(done.error or "failed"),
                                client_field(done.error_field, OPENAI_NAMES) if done.error_field else None)
        data = []
        for index, path in enumerate(jobs.store.images(done)):
            if response_format == "url":
                data.append({"url": f"{str(request.base_url).rstrip('/')}/sdlab/v1/jobs/{done.id}/images/{index}"})
            else:
                data.append({"b64_json": base64.b64encode(path.read_bytes()).decode()})
        return JSONResponse({"created": int(done.created), "data": data})

    async def guarded(request: Request, build) -> JSONResponse:
        try:
            fields, response_format = await build()
            return await run(request, fields, response_format)
        except SdlabError as exc:
            return openai_error(http_status(exc), exc.message, exc.argument, retry_headers(exc))

    @router.post("/images/generations", openapi_extra=json_body_schema(GENERATIONS_SCHEMA))
    async def generations(request: Request) -> JSONResponse:
        async def build():
            body = await json_body(request)
            if not isinstance(body, dict) or not body.get("prompt"):
                raise UsageError("prompt", "is required")
            return _common(body, config, served), body.get("response_format") or "b64_json"

        return await guarded(request, build)

    @router.post("/images/edits", openapi_extra=upload_schema("image", "mask", prompt=True))
    async def edits(request: Request) -> JSONResponse:
        async def build():
            form = await request.form()
            files = form.getlist("image") or form.getlist("image[]")
            if not form.get("prompt"):
                raise UsageError("prompt", "is required")
            image = await _read_image(files[0] if files else None, "image")
            fields = _common(dict(form), config, served)
            mask_source = await _read_image(form["mask"], "mask") if form.get("mask") is not None else image
            alpha = mask_source.getchannel("A") if mask_source.mode in ("RGBA", "LA") else None
            if alpha is not None and alpha.getextrema()[0] == 0:  # transparent = edit
                mask = alpha.point(lambda a: 255 if a == 0 else 0)
                fields.update(task="inpaint", image=encode_image(image.convert("RGB")), mask=encode_image(mask),
                              mask_blur=0, strength=1.0)
            else:
                fields.update(task="img2img", image=encode_image(image.convert("RGB")), strength=EDIT_STRENGTH)
            return fields, form.get("response_format") or "b64_json"

        return await guarded(request, build)

    @router.post("/images/variations", openapi_extra=upload_schema("image", prompt=False))
    async def variations(request: Request) -> JSONResponse:
        async def build():
            form = await request.form()
            image = await _read_image(form.get("image"), "image")
            fields = _common(dict(form), config, served)
            fields.update(task="img2img", image=encode_image(image.convert("RGB")), strength=VARIATION_STRENGTH,
                          prompt=str(form.get("prompt") or ""))
            return fields, form.get("response_format") or "b64_json"

        return await guarded(request, build)

    @router.get("/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": m["title"], "object": "model", "created": int(time.time()),
                                            "owned_by": "sdlab"} for m in model_titles(config)]}

    return router
