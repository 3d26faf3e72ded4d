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
from sdlab.engine.formats import safetensors_header
from sdlab.errors import Fix, ModelLoadError, UsageError

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


def _unreadable(path: Path, argument: str, why: str) -> UsageError:
    return UsageError(argument, f"{path} is not a readable sdlab training checkpoint: {why}; move it away to start over",
                      fix=Fix("overwrite", "or pass {option}"))


def read_meta(path: Path, argument: str = "resume") -> dict[str, Any]:
    """The metadata `save_state` wrote (step, config, ...), without reading the tensors; a file that is not a
    whole sdlab checkpoint (truncated, foreign, pickle) is refused naming `argument`."""
    try:
        header = safetensors_header(path, argument)
    except ModelLoadError as exc:
        raise _unreadable(path, argument, "it " + exc.message.removeprefix(f"{path} ")) from None
    raw = (header.get("__metadata__") or {}).get(_META_KEY)
    if raw is None:
        raise _unreadable(path, argument, "it holds no sdlab training state")
    try:
        meta = json.loads(raw)
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
        raise _unreadable(path, argument, "its training state is damaged")
    return meta


def load_state(path: Path, argument: str = "resume") -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read what `save_state` wrote: (groups of tensors, metadata)."""
    meta = read_meta(path, argument)
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in load_file(str(path)).items():
        group, _, name = key.partition("/")
        if not name:
            raise _unreadable(path, argument, f"it holds an unexpected tensor {key!r}")
        groups.setdefault(group, {})[name] = tensor
    return groups, meta
