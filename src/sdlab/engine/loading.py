"""Loading a Stable Diffusion model into a diffusers pipeline, and keeping one loaded."""

from __future__ import annotations

import gc
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_inpaint import StableDiffusionInpaintPipeline
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_inpaint import StableDiffusionXLInpaintPipeline

from sdlab.engine.devices import pick_device, pick_dtype
from sdlab.engine.formats import FileFormat, detect_format, file_hashes, load_state_dict, pickle_refused, safetensors_header
from sdlab.engine.memory import out_of_memory
from sdlab.engine.sources import Family, ModelSource, SourceKind, file_family, folder_family, models_dir, resolve_source
from sdlab.errors import Fix, ModelLoadError, OutOfMemoryError, SdlabError, UsageError

PIPELINES = {
    (Family.sd1, False): StableDiffusionPipeline, (Family.sd2, False): StableDiffusionPipeline,
    (Family.sdxl, False): StableDiffusionXLPipeline,
    (Family.sd1, True): StableDiffusionInpaintPipeline, (Family.sd2, True): StableDiffusionInpaintPipeline,
    (Family.sdxl, True): StableDiffusionXLInpaintPipeline,
}
#: What sdlab uses when a request leaves a value to the model (a model folder's sdlab.json overrides).
FAMILY_DEFAULTS = {
    Family.sd1: {"size": 512, "cfg": 7.0, "steps": 20, "sampler": "DPM++ 2M"},
    Family.sd2: {"size": 768, "cfg": 7.0, "steps": 20, "sampler": "DPM++ 2M"},
    Family.sdxl: {"size": 1024, "cfg": 7.0, "steps": 25, "sampler": "DPM++ 2M"},
}


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


@dataclass
class LoadedModel:
    """A loaded model: its base pipeline, family, defaults and hash; task pipelines share its weights."""

    source: ModelSource
    family: Family
    inpainting: bool
    pipe: Any
    scheduler_config: dict
    defaults: dict
    device: torch.device
    dtype: torch.dtype
    key: tuple
    _task_pipes: dict = field(default_factory=dict)
    _hash: str | None = None
    safety: tuple | None = None  # (checker, feature extractor), loaded on first use
    loras: set = field(default_factory=set)  # adapter names loaded into the pipelines' modules
    fused: tuple = ()  # (adapter, weight) pairs currently baked into the weights
    lora_warnings: dict = field(default_factory=dict)  # adapter -> what of its file could not be applied
    lora_hashes: dict = field(default_factory=dict)  # (path, size, mtime) -> SHA-256
    _preview: tuple = ()  # (LatentPreview | None,) once fitted
    cpu_offloaded: bool = False  # accelerate's offload hooks are on the model's modules

    @property
    def model_hash(self) -> str:
        """A1111's short hash: SHA-256 of the checkpoint file (of the UNet weights for a folder), first 10 hex digits."""
        if self._hash is None:
            self._hash = file_hashes(self.weights_file())[0] if self.weights_file() else ""
        return self._hash

    def set_cpu_offload(self, pipe, on: bool) -> None:
        """Model CPU offload on or off for the next run; hooks an earlier request added are removed, not kept."""
        if on and not self.cpu_offloaded:
            pipe.enable_model_cpu_offload(device=self.device)
        elif not on and self.cpu_offloaded:
            pipe.remove_all_hooks()
            self.pipe.to(self.device)
        self.cpu_offloaded = on

    def preview_map(self):
        """The latent -> RGB map for step previews, fitted to this model's VAE on first use (None if it cannot be)."""
        if not self._preview:
            from sdlab.engine.previews import fit_preview

            self._preview = (fit_preview(self.pipe.vae),)
        return self._preview[0]

    def weights_file(self) -> Path | None:
        if self.source.kind is SourceKind.file:
            return Path(self.source.location)
        folder = Path(self.pipe.unet.config._name_or_path or "") if self.source.kind is SourceKind.hub else Path(self.source.location) / "unet"
        files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        return files[0] if files else None

    def pipeline(self, task: str):
        """The pipeline for a task, built once from the base pipeline's components (no weights copied)."""
        if task == "txt2img":
            if self.inpainting:
                raise UsageError("model", f"{self.source.name} is an inpainting model (9-channel UNet); use inpaint")
            return self.pipe
        if task not in self._task_pipes:
            # AutoPipeline imports every pipeline family: only pay for it when img2img/inpaint is asked for.
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            if task == "inpaint":
                self._task_pipes[task] = self.pipe if self.inpainting else AutoPipelineForInpainting.from_pipe(self.pipe)
            else:
                if self.inpainting:
                    raise UsageError("model", f"{self.source.name} is an inpainting model (9-channel UNet); use inpaint")
                self._task_pipes[task] = AutoPipelineForImage2Image.from_pipe(self.pipe)
            self._task_pipes[task].set_progress_bar_config(disable=True)
        return self._task_pipes[task]


def _defaults(family: Family, folder: Path | None) -> dict:
    defaults = dict(FAMILY_DEFAULTS[family])
    if folder is not None and (folder / "sdlab.json").is_file():
        defaults.update(json.loads((folder / "sdlab.json").read_text()).get("defaults", {}))
    return defaults


def model_key(model: str | None, device: str = "auto", dtype: str = "auto", config: str | None = None) -> tuple:
    """What identifies a loaded model: (source, device, dtype, config)."""
    source = resolve_source(model)
    torch_device = pick_device(device)
    return source, str(torch_device), pick_dtype(dtype, torch_device), config


def load_model(model: str | None, device: str = "auto", dtype: str = "auto", config: str | None = None,
               allow_pickle: bool = False) -> LoadedModel:
    """Load `model` (None = embedded) onto a device; raise ModelLoadError with the fix when it cannot be read."""
    key = model_key(model, device, dtype, config)
    source, torch_device, torch_dtype = key[0], torch.device(key[1]), key[2]
    folder: Path | None = None
    try:
        if source.kind in (SourceKind.embedded, SourceKind.folder):
            folder = Path(source.location)
            pipe, family, inpainting = _load_folder(folder, torch_dtype, allow_pickle)
        elif source.kind is SourceKind.file:
            pipe, family, inpainting = _load_single_file(Path(source.location), torch_dtype, config, allow_pickle)
        else:
            pipe, family, inpainting = _load_hub(source.location, torch_dtype)
    except SdlabError:
        raise
    except Exception as exc:  # noqa: BLE001 - diffusers and transformers raise many types for unreadable files
        if out_of_memory(exc):
            raise OutOfMemoryError(f"out of memory loading {source.name} on {torch_device}; free memory, or use "
                                   "--dtype fp16/bf16 on a GPU") from exc
        raise ModelLoadError(f"could not load {source.location}: {_first_line(exc)}") from exc
    pipe.set_progress_bar_config(disable=True)
    if torch_device.type != "cpu":
        pipe.to(torch_device)
    return LoadedModel(source, family, inpainting, pipe, dict(pipe.scheduler.config), _defaults(family, folder),
                       torch_device, torch_dtype, key)


def _no_checker(family: Family) -> dict:
    # Never let a pipeline black out images itself; sdlab runs the checker and reports instead.
    return {} if family is Family.sdxl else {"safety_checker": None, "requires_safety_checker": False}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _load_single_file(path: Path, torch_dtype, config: str | None, allow_pickle: bool):
    kind = detect_format(path)
    if kind in (FileFormat.torch_zip, FileFormat.pickle) and not allow_pickle:
        raise pickle_refused(path)
    if kind is FileFormat.safetensors:
        safetensors_header(path)  # fails fast on a corrupt or truncated file
    elif kind not in (FileFormat.torch_zip, FileFormat.pickle):
        raise ModelLoadError(f"{path}: not a model file sdlab can read (found {kind.value}; expected safetensors)")
    if config is None and hub_offline():
        family, _ = file_family(path) if kind is FileFormat.safetensors else (Family.sd1, False)
        raise ModelLoadError(
            f"{path} is a single-file {family.value} checkpoint; offline, diffusers needs its architecture from a "
            "local diffusers folder of the same architecture",
            fix=Fix("config", "pass it as {option} /path/to/that/folder"))
    options: dict[str, Any] = {"dtype": torch_dtype}
    if config is not None:
        options["config"] = config
        options["local_files_only"] = Path(config).is_dir() or hub_offline()
    with tempfile.TemporaryDirectory(prefix="sdlab-") as scratch:
        readable = _as_safetensors(path, kind, Path(scratch))
        family, inpainting = file_family(readable)
        pipe = PIPELINES[family, inpainting].from_single_file(str(readable), **options, **_no_checker(family))
    return pipe, family, inpainting


def _as_safetensors(path: Path, kind: FileFormat, scratch: Path) -> Path:
    """A path diffusers reads as safetensors: the file itself, a .safetensors-named link to it, or (pickle,
    allowed by the caller) its tensors loaded with weights_only=True and written out as safetensors."""
    if kind is FileFormat.safetensors:
        if path.suffix == ".safetensors":
            return path
        link = scratch / (path.stem + ".safetensors")
        link.symlink_to(path.resolve())
        return link
    from safetensors.torch import save_file

    tensors = {k: v.contiguous() for k, v in load_state_dict(path, allow_pickle=True).items() if torch.is_tensor(v)}
    converted = scratch / (path.stem + ".safetensors")
    save_file(tensors, str(converted))
    return converted


def _load_hub(repo_id: str, torch_dtype):
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, local_files_only=hub_offline(),
                                        allow_patterns=["*.json", "*.txt", "*.safetensors", "*/*.json", "*/*.txt", "*/*.safetensors"]))
    except Exception as exc:  # huggingface_hub raises many types for "not reachable / not cached"
        where = "the hub is offline (HF_HUB_OFFLINE=1) and it is not in the local cache" if hub_offline() \
            else f"it could not be downloaded ({_first_line(exc)})"
        raise ModelLoadError(f"{repo_id!r} is no local file or folder (looked in . and {models_dir()}) and, as a hub "
                             f"id, {where}; download it where you have network and pass the folder: "
                             "--model /path/to/diffusers-folder") from None
    return _load_folder(folder, torch_dtype, allow_pickle=False)


def _load_folder(folder: Path, torch_dtype, allow_pickle: bool):
    """A diffusers folder, its weight files checked first; pickle (.bin) weights only with `allow_pickle`."""
    family, inpainting = folder_family(folder)
    for weights in sorted(folder.glob("*/*.safetensors")):
        safetensors_header(weights)
    pipe = PIPELINES[family, inpainting].from_pretrained(folder, dtype=torch_dtype, use_safetensors=not allow_pickle or None,
                                                         **_no_checker(family))
    return pipe, family, inpainting


class ModelCache:
    """Keeps the most recently used model loaded; asking for another frees it first."""

    def __init__(self) -> None:
        self._current: LoadedModel | None = None

    def get(self, model: str | None, device: str = "auto", dtype: str = "auto", config: str | None = None,
            allow_pickle: bool = False) -> LoadedModel:
        key = model_key(model, device, dtype, config)
        if self._current is not None and self._current.key == key:
            return self._current
        self.clear()
        self._current = load_model(model, device, dtype, config, allow_pickle)
        return self._current

    def clear(self) -> None:
        if self._current is None:
            return
        self._current = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
