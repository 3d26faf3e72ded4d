"""Memory: recognising out-of-memory failures, which torch reports differently on each device, and refusing a
decode that cannot fit before any work is done."""

from __future__ import annotations

from pathlib import Path

import torch

from sdlab.errors import OutOfMemoryError

#: What torch's allocators say when an allocation fails (CPU, CUDA, MPS).
_OOM_TEXT = ("can't allocate memory", "not enough memory", "out of memory", "DefaultCPUAllocator")
#: Peak memory of a VAE decode in units of one full-resolution activation (height x width x the decoder's last
#: channel count): measured 7.1 at 2048x2048, 7.6 at 1024x1024 on sdlab-shapes' VAE.
DECODE_ACTIVATIONS = 7


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation failure rather than a bug."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _OOM_TEXT)


def free_bytes(device: torch.device) -> int | None:
    """Memory the device can still give, or None where it cannot be asked."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
    return None


def check_decode_fits(vae, width: int, height: int, images: int, device: torch.device, dtype: torch.dtype,
                      tiling: bool) -> None:
    """Refuse before any work a VAE decode that needs more memory than the device has free (tiling bounds it)."""
    free = free_bytes(device)
    if tiling or free is None:
        return
    channels = int(vae.config.block_out_channels[0])
    need = DECODE_ACTIVATIONS * width * height * channels * torch.finfo(dtype).bits // 8 * images
    if need > free:
        raise OutOfMemoryError(
            f"decoding {images} image(s) of {width}x{height} needs about {need / 2**30:.1f} GB and the {device.type} "
            f"has {free / 2**30:.1f} GB free: lower the size or the batch size, or turn on VAE tiling "
            "(and VAE slicing for a batch)")
