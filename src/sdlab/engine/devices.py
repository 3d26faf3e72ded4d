"""Choosing the device and dtype: CUDA > MPS > CPU, fp16 on a GPU and fp32 on the CPU."""

from __future__ import annotations

import torch

from sdlab.errors import UsageError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def pick_device(preference: str = "auto") -> torch.device:
    """The device to run on; 'auto' takes CUDA, then MPS, then the CPU."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("device", f"{preference} asked for, but this machine has no CUDA GPU; use auto or cpu")
    if preference == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("device", "mps asked for, but MPS is not available here; use auto or cpu")
    return torch.device(preference)


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    """fp16 on a GPU and fp32 on the CPU, unless the caller names one."""
    if preference == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    if preference == "fp16" and device.type == "cpu":
        raise UsageError("dtype", "fp16 is not supported on the CPU; use fp32 or bf16")
    return DTYPES[preference]
