"""The HTTP application: sdlab's own job API over the job queue, with the key, body limits and 4xx errors.

    POST /sdlab/v1/jobs                 a GenerationRequest as JSON -> the job (202), at once
    GET  /sdlab/v1/jobs                 recent jobs
    GET  /sdlab/v1/jobs/{id}            state, progress, resolved parameters, image URLs
    POST /sdlab/v1/sweeps               request fields + x (and y) as NAME=VALUES -> a sweep job: grid, metrics, plots
    GET  /sdlab/v1/sweeps/axes          what a sweep may vary, and the guidance and strength exercises as presets
    GET  /sdlab/v1/jobs/{id}/files/{f}  a finished sweep's grid.png, results.csv/json, plot-METRIC.png
    GET  /sdlab/v1/loras                the LoRAs prompts may name, with their trigger words
    POST /sdlab/v1/parameters           {"image": base64} -> the request fields its A1111 infotext records
    POST /sdlab/v1/jobs/{id}/cancel     queued: never runs; running: stops, keeping finished images
    POST /sdlab/v1/jobs/{id}/skip       drops the running batch (A1111's skip)
    GET  /sdlab/v1/jobs/{id}/events     server-sent events: one per denoising step (with a cheap preview of each
                                        image unless ?previews=false), then the finished job
    GET  /sdlab/v1/jobs/{id}/images/{n} the n-th image, a PNG with its A1111 infotext

Bad input is a 4xx with `{"error": {"field": ..., "message": ...}}`, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import queue as queues
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from sdlab.engine.events import StepEvent
from sdlab.engine.images import read_parameters
from sdlab.engine.lora_info import list_loras
from sdlab.errors import SdlabError, UsageError
from sdlab.eval.axes import PARAMETERS
from sdlab.eval.exercises.guidance import GUIDANCE
from sdlab.eval.exercises.strength import STRENGTH
from sdlab.eval.worlds import judged_world
from sdlab.jobs import Job, JobQueue
from sdlab.requests.infotext import request_fields
from sdlab.server.a1111 import ServedModel, a1111_router
from sdlab.server.boundary import (decode_image, encode_image, json_body, json_body_schema, public_request,
                                   request_schema, to_request, to_sweep)
from sdlab.server.config import ServerConfig
from sdlab.server.errors import NotFound, error_response, http_status, retry_headers
from sdlab.server.guard import Guard
from sdlab.server.openai import openai_router
from sdlab.server.ui import ui_files, ui_router

PREFIX = "/sdlab/v1"


def job_view(job: Job, jobs: JobQueue, config: ServerConfig) -> dict[str, Any]:
    """A job as the API shows it: its record, image URLs, and the running step; names, never the server's paths."""
    view = job.as_dict()
    view["request"] = public_request(view["request"])
    if view["error"]:
        view["error"] = config.without_paths(view["error"])
    view["images"] = [{k: v for k, v in image.items() if k != "file"} | {"url": f"{PREFIX}/jobs/{job.id}/images/{n}"}
                      for n, image in enumerate(view.get("images", []))]
    if "sweep" in view:
        view["sweep"] = {**view["sweep"], "urls": {name: f"{PREFIX}/jobs/{job.id}/files/{name}"
                                                   for name in view["sweep"].get("files", [])}}
    cells = jobs.sweep_progress(job.id)
    if cells is not None:
        view["progress"] = {"cells_done": cells[0], "cells": cells[1]}
    running = jobs.progress()
    if running is not None and running[0].id == job.id and running[1] is not None:
        event = running[1]
        view["progress"] = {"batch": event.batch, "step": event.step, "total": event.total}
    return view


def step_view(event: StepEvent, previews: bool) -> dict[str, Any]:
    """A step event as the API streams it, with a cheap preview of each image as a data: URI when asked."""
    step = {"batch": event.batch, "images": list(event.images), "step": event.step, "total": event.total}
    if previews:
        step["previews"] = ["data:image/png;base64," + encode_image(image) for image in event.previews()]
    return step


def create_app(config: ServerConfig, jobs: JobQueue) -> FastAPI:
    app = FastAPI(title="sdlab", version="1", docs_url="/docs")

    @app.exception_handler(SdlabError)
    async def sdlab_error(_request: Request, exc: SdlabError) -> JSONResponse:
        return error_response(http_status(exc), exc.message, exc.argument, retry_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = [str(p) for p in first.get("loc", ()) if p != "body"]
        return error_response(422, str(first.get("msg", "invalid request")), ".".join(location) or "body")

    app.add_middleware(Guard, config=config)  # the key and the body limit, before any route


    served = ServedModel()  # the model A1111's options and OpenAI's unknown model names mean
    app.include_router(a1111_router(config, jobs, served))
    app.include_router(openai_router(config, jobs, served))

    app.include_router(ui_router())
    app.mount("/ui", ui_files(), name="ui")

    @app.post(f"{PREFIX}/jobs", status_code=202, openapi_extra=json_body_schema(request_schema()))
    async def submit(request: Request) -> JSONResponse:
        generation = to_request(await json_body(request), config)
        job = jobs.submit(generation)
        return JSONResponse(job_view(job, jobs, config), status_code=202)

    @app.post(f"{PREFIX}/sweeps", status_code=202)
    async def submit_sweep(request: Request) -> JSONResponse:
        base, axes = to_sweep(await json_body(request), config)
        return JSONResponse(job_view(jobs.submit_sweep(base, axes), jobs, config), status_code=202)

    @app.get(f"{PREFIX}/sweeps/axes")
    def sweep_choices() -> dict:
        """What a sweep may vary (NAME, title) and the exercises as presets: the values `sdlab exercise` uses."""
        world = judged_world(None)  # the default model's; the page sends its prompts to that model
        return {"axes": [{"name": name, "title": title} for name, (_field, _kind, title) in PARAMETERS.items()],
                "presets": {
                    "guidance": {"x": "cfg=" + ",".join(f"{v:g}" for v in GUIDANCE), "prompt": world.guidance_prompt,
                                 "needs_image": False},
                    "strength": {"x": "strength=" + ",".join(f"{v:g}" for v in STRENGTH), "prompt": world.strength_prompt,
                                 "needs_image": True}}}

    @app.get(f"{PREFIX}/jobs/{{job_id}}/files/{{name}}")
    async def sweep_file(job_id: str, name: str) -> FileResponse:
        job = _job(jobs, job_id)
        files = job.result.get("sweep", {}).get("files", [])
        if name not in files:  # only the names the sweep recorded: no paths, nothing else in the folder
            raise NotFound(f"job {job_id} has no file {name!r}; it has {', '.join(files) or 'none'}", "name")
        kinds = {".png": "image/png", ".csv": "text/csv", ".json": "application/json"}
        path = jobs.store.sweep_folder(job_id) / name
        return FileResponse(path, media_type=kinds.get(path.suffix, "application/octet-stream"))

    @app.get(f"{PREFIX}/loras")
    def loras() -> dict:
        """The LoRAs `<lora:NAME:WEIGHT>` tags may name: format, rank, base model, trigger words (no paths)."""
        folder = config.loras_folder
        rows = list_loras(folder) if folder.is_dir() else []
        return {"loras": [{"name": row.name, "format": config.without_paths(row.format), "rank": row.rank,
                           "base": row.base, "triggers": list(row.triggers)} for row in rows]}

    @app.post(f"{PREFIX}/parameters")
    async def parameters(request: Request) -> dict:
        """The request fields an image's A1111 infotext records (sdlab's or A1111's own): {"image": base64} in."""
        body = await json_body(request)
        image = decode_image(body.get("image") if isinstance(body, dict) else None, "image")
        text = read_parameters(image)
        if not text:
            raise UsageError("image", "carries no generation parameters (no A1111 `parameters` text in it)")
        return {"infotext": text, "fields": request_fields(text, "image")}

    @app.get(f"{PREFIX}/jobs")
    async def recent(limit: int = 50) -> dict:
        return {"jobs": [job_view(job, jobs, config) for job in jobs.store.jobs(limit=max(1, min(limit, 500)))]}

    @app.get(f"{PREFIX}/jobs/{{job_id}}")
    async def one(job_id: str) -> dict:
        return job_view(_job(jobs, job_id), jobs, config)

    @app.post(f"{PREFIX}/jobs/{{job_id}}/cancel")
    async def cancel(job_id: str) -> dict:
        _job(jobs, job_id)
        return job_view(jobs.cancel(job_id), jobs, config)

    @app.post(f"{PREFIX}/jobs/{{job_id}}/skip")
    async def skip(job_id: str) -> dict:
        jobs.skip(_job(jobs, job_id).id)
        return job_view(jobs.get(job_id), jobs, config)

    @app.get(f"{PREFIX}/jobs/{{job_id}}/images/{{index}}")
    async def image(job_id: str, index: int) -> FileResponse:
        files = list(jobs.store.images(_job(jobs, job_id)))
        if not 0 <= index < len(files):
            raise NotFound(f"job {job_id} has {len(files)} image(s)", "index")
        return FileResponse(files[index], media_type="image/png")

    @app.get(f"{PREFIX}/jobs/{{job_id}}/events")
    async def events(job_id: str, previews: bool = True) -> StreamingResponse:
        stream = jobs.listen(_job(jobs, job_id).id)

        async def sse():
            while True:
                try:
                    item = await asyncio.to_thread(stream.get, True, 15)
                except queues.Empty:
                    yield ": still running\n\n"
                    continue
                if isinstance(item, Job):
                    yield f"event: finished\ndata: {json.dumps(job_view(item, jobs, config))}\n\n"
                    return
                step = await asyncio.to_thread(step_view, item, previews)
                yield f"event: step\ndata: {json.dumps(step)}\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    return app


def _job(jobs: JobQueue, job_id: str) -> Job:
    job = jobs.store.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}", "job_id")
    return job

