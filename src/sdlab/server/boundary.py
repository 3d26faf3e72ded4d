"""The HTTP trust boundary: a client's JSON becomes a GenerationRequest that names, never paths.

Models are names in the server's models folder (or the embedded one; hub ids only if the operator
allows them), LoRAs names in its LoRA folder, images base64 (raw or `data:` URIs) decoded with the
bomb limit and the format allowlist. Options that reach the file system or the machine (`config`,
`lora_dir`, `allow_pickle`, `device`, `cpu_offload`) are the operator's, not the client's. Sizes,
steps and image counts have the server's limits.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from pathlib import Path
from typing import Any, Mapping

from PIL import Image

from sdlab.engine.engine import check_without_model
from sdlab.engine.images import open_image
from sdlab.eval.axes import parse_axis
from sdlab.eval.sweep import plan_cells
from sdlab.engine.sources import EMBEDDED_NAME, embedded_name
from sdlab.errors import UsageError
from sdlab.jobs.sweeps import sweep_axes
from sdlab.requests import GenerationRequest, build_request
from sdlab.requests.lora_tags import check_name
from sdlab.server.config import ServerConfig

#: Request fields a client may not set: they name files or choose the machine's resources.
OPERATOR_FIELDS = ("config", "lora_dir", "allow_pickle", "device", "cpu_offload")
_NAME = re.compile(r"^[\w][\w.\- ]*$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


async def json_body(request) -> Any:
    """A request's JSON body (an empty body is {}); the server's BodyLimit has already bounded its size."""
    raw = await request.body()
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise UsageError("body", "is not valid JSON") from None


def decode_image(value: Any, field: str) -> Image.Image:
    """A base64 image (raw, or a `data:image/...;base64,` URI) opened safely; URLs are never fetched."""
    if not isinstance(value, str):
        raise UsageError(field, "must be a base64-encoded PNG, JPEG or WEBP image")
    text = value.strip()
    if text.startswith(("http://", "https://")):
        raise UsageError(field, "image URLs are not fetched; send the image itself, base64-encoded")
    if text.startswith("data:"):
        text = text.split(",", 1)[1] if "," in text else ""
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise UsageError(field, "is not valid base64") from None
    if not data:
        raise UsageError(field, "is empty")
    return open_image(data, field)


def encode_image(image: Image.Image) -> str:
    """An image as raw base64 PNG, the form decode_image takes back."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def model_path(name: str | None, config: ServerConfig) -> str | None:
    """The model a client names: the embedded one, a name in the models folder, or (if allowed) a hub id."""
    embedded = embedded_name(name)
    if embedded is not None:
        return None if embedded == EMBEDDED_NAME else embedded
    if config.allow_hub and _HUB_ID.match(name) and ".." not in name:
        return name
    if not _NAME.match(name) or name in (".", ".."):
        raise UsageError("model", f"{name!r} is not a model name; give a name from the server's model list")
    for candidate in (config.models_folder / name, config.models_folder / f"{name}.safetensors"):
        if candidate.exists():
            return str(candidate)
    raise UsageError("model", f"no model named {name!r} on this server; see its model list")


def lora_path(name: str, config: ServerConfig) -> str:
    try:
        check_name(name)
    except ValueError as exc:
        raise UsageError("loras", str(exc)) from None
    folder = config.loras_folder
    for candidate in (folder / name, folder / f"{name}.safetensors"):
        if candidate.is_file():
            return str(candidate)
    raise UsageError("loras", f"no LoRA named {name!r} on this server")


def request_schema() -> dict[str, Any]:
    """The JSON schema of a request as clients send it (for the OpenAPI document): GenerationRequest's fields but
    the operator's, with images as base64 strings and LoRAs by name."""
    schema = _inline(GenerationRequest.model_json_schema())
    properties = {k: v for k, v in schema["properties"].items() if k not in OPERATOR_FIELDS}
    for name in ("image", "mask"):
        properties[name] = {"type": "string", "description": "base64 PNG, JPEG or WEBP, or a data: URI"}
    properties["loras"] = {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "weight": {"type": "number"}}}}
    properties["model"] = {"type": "string", "description": "a model name (see /v1/models); default: the served model"}
    return {"type": "object", "properties": properties, "required": ["prompt"], "additionalProperties": False}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic's schema with its `$defs` references replaced by what they refer to (the OpenAPI document has no
    `$defs` at its root for them to point at)."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[1]])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def json_body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's openapi_extra for a route that reads `schema` as its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def client_field(argument: str | None, names: Mapping[str, str] | None = None) -> str:
    """The field a client sent, for an error the library names CLI-style (`batch-size` -> `batch_size`), through
    `names` (sdlab field -> the client API's own name, such as A1111's `cfg_scale`)."""
    field = (argument or "request").replace("-", "_")
    return (names or {}).get(field, field)


def to_request(body: Any, config: ServerConfig, names: Mapping[str, str] | None = None) -> GenerationRequest:
    """A client's JSON object as a validated request inside the server's limits; the UsageError names the field
    as the client called it (see client_field)."""
    try:
        request = _to_request(body, config)
        check_without_model(request)  # a sampler, LoRA or mask that cannot work is refused before it is queued
        return request
    except UsageError as exc:
        raise UsageError(client_field(exc.argument, names), config.without_paths(exc.message)) from None


SWEEP_FIELDS = ("x", "y", "max_cells")


def to_sweep(body: Any, config: ServerConfig) -> tuple[GenerationRequest, dict[str, Any]]:
    """A sweep a client sends (the base request's fields plus `x`, `y` as NAME=VALUES and `max_cells`) as the base
    request and its axes, every cell checked against the server's limits before it is queued."""
    if not isinstance(body, dict):
        raise UsageError("body", "must be a JSON object: request fields plus x (and y) as NAME=VALUES")
    x, y, most = body.get("x"), body.get("y"), body.get("max_cells", config.max_sweep_cells)
    if not isinstance(x, str):
        raise UsageError("x", "is required: NAME=VALUES, e.g. cfg=1,3,5 or steps=10-30 (+10)")
    if y is not None and not isinstance(y, str):
        raise UsageError("y", "must be NAME=VALUES (or left out)")
    if not isinstance(most, int) or isinstance(most, bool) or not 1 <= most <= config.max_sweep_cells:
        raise UsageError("max_cells", f"must be a whole number from 1 to {config.max_sweep_cells} on this server")
    base = to_request({k: v for k, v in body.items() if k not in SWEEP_FIELDS}, config)
    axes = sweep_axes(x, y, most)
    x_axis, y_axis = parse_axis(x, "x"), parse_axis(y, "y") if y else None

    def within_limits(request: GenerationRequest) -> GenerationRequest:
        _within_limits(request, config)
        return request

    try:
        plan_cells(base.model_dump(), x_axis, y_axis, most, within_limits)
    except UsageError as exc:
        raise UsageError(client_field(exc.argument), config.without_paths(exc.message)) from None
    return base, axes


def _to_request(body: Any, config: ServerConfig) -> GenerationRequest:
    if not isinstance(body, dict):
        raise UsageError("body", "must be a JSON object of request fields")
    fields = {k: v for k, v in body.items() if v is not None}  # null = the default
    for name in OPERATOR_FIELDS:
        if name in fields:
            raise UsageError(name, "is set by the server's operator, not by a request")
    fields["model"] = model_path(fields.get("model"), config)
    for name in ("image", "mask"):
        if name in fields:
            fields[name] = decode_image(fields[name], name)
    if "loras" in fields:
        if not isinstance(fields["loras"], list):
            raise UsageError("loras", "must be a list of {name, weight}")
        refs = []
        for ref in fields["loras"]:
            if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
                raise UsageError("loras", "each item must be an object with a name (and a weight)")
            refs.append({"path": lora_path(ref["name"], config), "weight": ref.get("weight", 1.0)})
        fields["loras"] = refs
    fields["lora_dir"] = str(config.loras_folder)
    request = build_request(**fields)
    _within_limits(request, config)
    return request


def public_request(fields: dict[str, Any]) -> dict[str, Any]:
    """A stored request as a client may see it: names for the model, LoRAs and inputs, no server paths."""
    shown = {k: v for k, v in fields.items() if k not in OPERATOR_FIELDS}
    for name in ("model", "image", "mask"):
        if isinstance(shown.get(name), str):
            shown[name] = Path(shown[name]).name if name == "model" else "(uploaded image)"
    shown["loras"] = [{"name": Path(ref["path"]).stem, "weight": ref["weight"]} for ref in shown.get("loras", [])]
    return shown


def _within_limits(request: GenerationRequest, config: ServerConfig) -> None:
    for name in ("width", "height"):
        value = getattr(request, name)
        if value is not None and value > config.max_side:
            raise UsageError(name, f"at most {config.max_side} on this server, got {value}")
    if request.steps is not None and request.steps > config.max_steps:
        raise UsageError("steps", f"at most {config.max_steps} on this server, got {request.steps}")
    if request.batch_size * request.batch_count > config.max_images:
        raise UsageError("batch_size", f"batch size x batch count is at most {config.max_images} on this server, "
                         f"got {request.batch_size * request.batch_count}")
