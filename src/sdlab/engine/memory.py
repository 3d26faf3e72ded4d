"""Recognising out-of-memory failures, which torch reports differently on each device."""

from __future__ import annotations

import torch

#: What torch's allocators say when an allocation fails (CPU, CUDA, MPS).
_OOM_TEXT = ("can't allocate memory", "not enough memory", "out of memory", "DefaultCPUAllocator")


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation failure rather than a bug."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _OOM_TEXT)
