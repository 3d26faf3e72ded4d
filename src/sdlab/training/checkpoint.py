"""A whole training state in one safetensors file: weights, optimizer, RNG, step and config.

Nothing is pickled: tensors go in the safetensors body, everything else in its
JSON metadata. Writes are atomic (temp file + rename), so a kill -9 during a save
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from sdlab.atomic import write_bytes

_META_KEY = "sdlab_training_state"


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Split an optimizer's state into flat tensors and JSON-able parameter groups."""
    state = optimizer.state_dict()
    tensors = {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, state["param_groups"]


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    """Restore what `optimizer_tensors` split."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_state(path: Path, groups: dict[str, dict[str, torch.Tensor]], meta: dict[str, Any]) -> None:
    """Atomically write named groups of tensors plus JSON metadata to `path`."""
    flat = {f"{group}/{key}": t.detach().contiguous().cpu() for group, tensors in groups.items() for key, t in tensors.items()}
    write_bytes(path, save(flat, metadata={_META_KEY: json.dumps(meta)}), overwrite=True)


def read_meta(path: Path) -> dict[str, Any]:
    """The metadata `save_state` wrote (step, config, ...), without reading the tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        raw = (handle.metadata() or {}).get(_META_KEY)
    if raw is None:
        raise ValueError(f"{path} is not an sdlab training checkpoint")
    return json.loads(raw)


def load_state(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read what `save_state` wrote: (groups of tensors, metadata)."""
    meta = read_meta(path)
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in load_file(str(path)).items():
        group, name = key.split("/", 1)
        groups.setdefault(group, {})[name] = tensor
    return groups, meta
