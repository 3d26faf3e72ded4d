"""Typed, validated request and result objects shared by the API, CLI and server."""

from sdlab.requests.generation import GenerationRequest, LoraRef, Task, build_request, usage_error_from
from sdlab.requests.result import GeneratedImage, GenerationResult, Resolved

__all__ = ["GeneratedImage", "GenerationRequest", "GenerationResult", "LoraRef", "Resolved", "Task",
           "build_request", "usage_error_from"]
