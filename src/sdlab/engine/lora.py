"""LoRA adapters at generation time: files and prompt tags found, weights set, each file loaded into a model once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sdlab.engine.formats import FileFormat, detect_format, file_hashes, load_state_dict, pickle_refused, safetensors_header
from sdlab.errors import ModelLoadError

@dataclass(frozen=True)
class WantedLora:
    """A LoRA file to apply, its weight, and the option that asked for it (for errors)."""

    path: Path
    weight: float
    argument: str = "lora"


def lora_dir(explicit: str | None) -> Path:
    """Where <lora:NAME> tags are looked up: the request's folder, $SDLAB_LORAS, or ~/.cache/sdlab/loras."""
    return Path(explicit or os.environ.get("SDLAB_LORAS", Path.home() / ".cache" / "sdlab" / "loras")).expanduser()


def _in_folder(name: str, folder: Path, argument: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.safetensors"):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in folder.glob("*.safetensors")) if folder.is_dir() else []
    where = f"in {folder}" if folder.is_dir() else f"({folder} is not a folder; set --lora-dir or $SDLAB_LORAS)"
    raise ModelLoadError(f"LoRA {name!r} not found {where}" + (f"; there: {', '.join(known)}" if known else ""),
                         argument=argument)


def resolve(name: str, folder: Path) -> Path:
    """A LoRA file from a path, or from a name in `folder` (with or without .safetensors)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise ModelLoadError(f"{path} is not a file", argument="lora")
    return _in_folder(name, folder, "lora")


def wanted(request) -> list[WantedLora]:
    """The LoRA files a request asks for, found and their headers checked: `loras` (paths or names) first,
    then the prompt's tags (names in the LoRA folder only: a prompt may come from an untrusted image)."""
    folder = lora_dir(request.lora_dir)
    out = [WantedLora(resolve(ref.path, folder), ref.weight, "lora") for ref in request.loras]
    out += [WantedLora(_in_folder(tag.name, folder, "prompt"), tag.weight, "prompt") for tag in request.lora_tags]
    for item in out:
        kind = detect_format(item.path)
        if kind is FileFormat.safetensors:
            safetensors_header(item.path, item.argument)
        elif kind not in (FileFormat.torch_zip, FileFormat.pickle):
            raise ModelLoadError(f"{item.path} is not a LoRA file sdlab can read (found {kind.value}; expected "
                                 "safetensors)", argument=item.argument)
        elif not request.allow_pickle:
            raise pickle_refused(item.path, item.argument)
    return out


def apply(model, wanted: list[WantedLora], allow_pickle: bool = False,
          fuse: bool = False) -> tuple[list[tuple[str, str, float]], list[str]]:
    """Make exactly `wanted` active on the model's pipelines with their weights; load each file once.

    With `fuse`, the active adapters are baked into the base weights (faster steps); a later request
    with other adapters or weights unfuses first. Returns (name, A1111 short hash, weight) per LoRA, and
    warnings naming what of these files could not be applied.
    """
    pipe = model.pipe
    names, weights, records, notes = [], [], [], []
    for item in wanted:
        path, weight = item.path, item.weight
        full = _sha256(model, path)
        adapter = f"lora_{full[:16]}"
        if adapter not in model.loras:
            _load(pipe, path, adapter, model.source.name, allow_pickle, item.argument)
            model.loras.add(adapter)
            model.lora_warnings[adapter] = unapplied_report(pipe, path, adapter)
        names.append(adapter)
        weights.append(weight)
        if model.lora_warnings.get(adapter):
            notes.append(model.lora_warnings[adapter])
        records.append((path.stem, full[:12], weight))
    target = tuple(zip(names, weights)) if fuse else ()
    if model.fused and model.fused != target:
        pipe.unfuse_lora()
        model.fused = ()
    if model.fused:
        return records, notes  # already baked in exactly as asked
    if names:
        pipe.set_adapters(names, weights)
        if fuse:
            pipe.fuse_lora(adapter_names=names)
            model.fused = target
    elif model.loras:
        pipe.unload_lora_weights()  # back to the exact base weights
        model.loras.clear()
    return records, notes


def _sha256(model, path: Path) -> str:
    """The file's SHA-256, computed once per (path, size, modification time) for this model."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in model.lora_hashes:
        model.lora_hashes[key] = file_hashes(path)[1]
    return model.lora_hashes[key]


_DOWN_SUFFIXES = (".lora_down.weight", ".lora.down.weight", ".lora_A.weight", ".lora_linear_layer.down.weight")
_COMPONENTS = (("lora_unet_", "unet"), ("lora_te1_", "text_encoder"), ("lora_te2_", "text_encoder_2"),
               ("lora_te_", "text_encoder"), ("unet.", "unet"), ("text_encoder_2.", "text_encoder_2"),
               ("text_encoder.", "text_encoder"))


def _canonical(component: str, path: str) -> str:
    return f"{component}/{path.replace('.', '_').removeprefix('text_model_')}"


def file_modules(path: Path) -> set[str]:
    """The modules a LoRA file adapts, as component/module_path_with_underscores."""
    modules = set()
    for key in safetensors_header(path):
        suffix = next((s for s in _DOWN_SUFFIXES if key.endswith(s)), None)
        if suffix is None:
            continue
        module = key[: -len(suffix)]
        for prefix, component in _COMPONENTS:
            if module.startswith(prefix):
                modules.add(_canonical(component, module[len(prefix):]))
                break
        else:
            modules.add(_canonical("unet", module))
    return modules


def applied_modules(pipe, adapter: str) -> set[str]:
    """The modules of the pipeline that carry `adapter` after loading."""
    found = set()
    for component in ("unet", "text_encoder", "text_encoder_2"):
        model = getattr(pipe, component, None)
        for name, module in model.named_modules() if model is not None else ():
            layers = getattr(module, "lora_A", None)
            if isinstance(layers, dict) or hasattr(layers, "keys"):
                if adapter in layers.keys():
                    found.add(_canonical(component, name))
    return found


def unapplied_report(pipe, path: Path, adapter: str) -> str | None:
    """A warning naming the file's modules that did not land in the model (diffusers skips them silently)."""
    if detect_format(path) is not FileFormat.safetensors:
        return None
    wanted, applied = file_modules(path), applied_modules(pipe, adapter)
    if len(applied) >= len(wanted):
        return None
    missing = sorted(wanted - applied)
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    names = f": {shown}" if missing and len(missing) <= len(wanted) - len(applied) else ""
    return f"lora: {len(wanted) - len(applied)} of {len(wanted)} modules of {path.name} could not be applied{names}"


def _load(pipe, path: Path, adapter: str, model_name: str, allow_pickle: bool, argument: str = "lora") -> None:
    kind = detect_format(path)
    if kind is FileFormat.safetensors:
        safetensors_header(path, argument)
        source = str(path)
    else:
        source = load_state_dict(path, allow_pickle, argument)  # refuses pickle unless allowed, and anything else
    try:
        pipe.load_lora_weights(source, adapter_name=adapter)
    except Exception as exc:  # noqa: BLE001 - diffusers and peft raise many types for a file that does not fit
        try:
            pipe.delete_adapters(adapter)
        except Exception:  # noqa: BLE001 - nothing was loaded
            pass
        lines = [line for line in str(exc).splitlines() if "size mismatch" in line] or str(exc).strip().splitlines()
        raise ModelLoadError(f"{path} does not fit {model_name} (made for another base model?): "
                             f"{lines[0].strip()[:300] if lines else exc.__class__.__name__}", argument=argument) from exc
