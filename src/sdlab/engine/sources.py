"""Where a model comes from (embedded, diffusers folder, single file, hub id) and which family it is."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path

from sdlab.engine.formats import FileFormat, detect_format, safetensors_header
from sdlab.errors import ModelLoadError, SdlabError

#: The models shipped in the package, the default first.
EMBEDDED_MODELS: tuple[str, ...] = ("sdlab-shapes",)
EMBEDDED_NAME = EMBEDDED_MODELS[0]
#: What else names the default embedded model (and None, an absent --model).
DEFAULT_MODEL_WORDS = ("", "embedded", "default")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class SourceKind(str, Enum):
    embedded = "embedded"
    folder = "folder"
    file = "file"
    hub = "hub"


class Family(str, Enum):
    sd1 = "sd1"
    sd2 = "sd2"
    sdxl = "sdxl"


@dataclass(frozen=True)
class ModelSource:
    kind: SourceKind
    location: str
    name: str


def embedded_path(name: str = EMBEDDED_NAME) -> Path:
    """The folder of an embedded model (default: the default one) inside the installed package."""
    return Path(str(resources.files("sdlab") / "models" / name))


def embedded_name(model: str | None) -> str | None:
    """The embedded model `model` names (None, "", "embedded", "default": the default one), else None."""
    word = "" if model is None else model.strip().lower()
    if word in DEFAULT_MODEL_WORDS:
        return EMBEDDED_NAME
    return word if word in EMBEDDED_MODELS else None


def models_dir() -> Path:
    """The folder `sdlab models` lists and bare model names are looked up in ($SDLAB_MODELS)."""
    return Path(os.environ.get("SDLAB_MODELS", Path.home() / ".cache" / "sdlab" / "models")).expanduser()


def resolve_source(model: str | None) -> ModelSource:
    """Turn the user's --model value into a source, checking that it exists."""
    name = embedded_name(model)
    if name is not None:
        path = embedded_path(name)
        if not (path / "model_index.json").is_file():
            raise ModelLoadError(f"the embedded model {name} is not installed at {path}; reinstall sdlab "
                                 "or pass --model PATH")
        return ModelSource(SourceKind.embedded, str(path), name)
    path = Path(model).expanduser()
    if not path.exists() and not path.is_absolute() and (models_dir() / model).exists():
        path = models_dir() / model
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelLoadError(f"{path} is a folder but not a diffusers model (no model_index.json); "
                                 "pass a diffusers folder, a .safetensors file or a hub id")
        return ModelSource(SourceKind.folder, str(path.resolve()), path.name)
    if path.is_file():
        return ModelSource(SourceKind.file, str(path.resolve()), path.stem)
    if _HUB_ID.match(model) and not model.startswith((".", "~")) and not _looks_local(model):
        return ModelSource(SourceKind.hub, model, model.split("/")[-1])
    hub = "" if _HUB_ID.match(model) else ", and it is not a hub id of the form org/name"
    raise ModelLoadError(f"{model!r} not found: no such file or folder (looked in . and {models_dir()}){hub}")


def read_json_object(path: Path, argument: str = "model") -> dict:
    """A JSON file that must hold an object (a diffusers config), or ModelLoadError saying what it holds instead."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read ({exc.strerror or exc})", argument=argument) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON ({exc.__class__.__name__})", argument=argument) from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} holds a JSON {type(data).__name__}, not the object a diffusers config is",
                             argument=argument)
    return data


def model_card(model: str | None) -> dict:
    """What a model folder's sdlab.json says of the model (defaults, world, LoRA training defaults), or {}."""
    try:
        source = resolve_source(model)
    except ModelLoadError:
        return {}
    info = Path(source.location) / "sdlab.json"
    if source.kind not in (SourceKind.embedded, SourceKind.folder) or not info.is_file():
        return {}
    try:
        card = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def model_world(model: str | None) -> str | None:
    """The synthetic world a model draws, from its folder's sdlab.json ("shapes" for sdlab-shapes), else None.

    Judged metrics and the exercises' defaults apply to models of sdlab's world, whatever they are called."""
    world = model_card(model).get("world")
    return world if isinstance(world, str) else None


def _looks_local(model: str) -> bool:
    """A missing `a/b` is a local path, not a hub id, when `a` is a local folder or `b` names a weights file."""
    head = model.split("/")[0]
    return Path(head).is_dir() or (models_dir() / head).is_dir() or \
        model.lower().endswith((".safetensors", ".ckpt", ".pt", ".bin", ".pth"))


def folder_family(path: Path) -> tuple[Family, bool]:
    """(family, is_inpainting) of a diffusers folder, from model_index.json and the UNet config."""
    index = read_json_object(path / "model_index.json")
    unet_config = path / "unet" / "config.json"
    unet = read_json_object(unet_config) if unet_config.is_file() else {}
    inpainting = unet.get("in_channels", 4) == 9
    if "XL" in str(index.get("_class_name", "")) or "text_encoder_2" in index:
        return Family.sdxl, inpainting
    if unet.get("cross_attention_dim") == 1024:
        return Family.sd2, inpainting
    return Family.sd1, inpainting


def file_family(path: Path) -> tuple[Family, bool]:
    """(family, is_inpainting) of a single-file checkpoint, from its tensor names and shapes."""
    if detect_format(path) is not FileFormat.safetensors:
        return Family.sd1, False
    header = safetensors_header(path)
    keys = header.keys()
    conv_in = header.get("model.diffusion_model.input_blocks.0.0.weight", {}).get("shape", [0, 4])
    inpainting = len(conv_in) > 1 and conv_in[1] == 9
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return Family.sdxl, inpainting
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return Family.sd2, inpainting
    if any(k.startswith("cond_stage_model.transformer.") for k in keys) or any(k.startswith("model.diffusion_model.") for k in keys):
        return Family.sd1, inpainting
    raise ModelLoadError(f"{path} is a safetensors file but not a Stable Diffusion checkpoint "
                         "(no model.diffusion_model.* tensors); is it a LoRA? use --lora for those")


@dataclass(frozen=True)
class ModelEntry:
    """A row of `sdlab models`: a model sdlab can name, or an unreadable entry with the reason."""

    name: str
    kind: str
    family: str
    path: str
    problem: str | None = None  # why an unreadable entry cannot be used

    def as_dict(self) -> dict:
        row = {"name": self.name, "kind": self.kind, "family": self.family, "path": self.path}
        return row | ({"problem": self.problem} if self.problem else {})


def list_models(folder: Path | None = None) -> list[ModelEntry]:
    """The embedded models and the models in `folder` (default `models_dir()`); entries that are no model are
    skipped, broken ones listed with the reason."""
    rows = []
    for name in EMBEDDED_MODELS:
        if (embedded_path(name) / "model_index.json").is_file():
            family, _ = folder_family(embedded_path(name))
            rows.append(ModelEntry(name, "embedded", family.value, str(embedded_path(name))))
    folder = folder if folder is not None else models_dir()
    try:
        entries = sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        entries = []
    for entry in entries:
        try:
            if (entry / "model_index.json").is_file():
                kind, (family, inpainting) = "folder", folder_family(entry)
            elif entry.is_file() and detect_format(entry) in (FileFormat.safetensors, FileFormat.torch_zip, FileFormat.pickle):
                kind, (family, inpainting) = f"file ({detect_format(entry).value})", file_family(entry)
            else:
                continue
        except (SdlabError, OSError) as exc:
            reason = exc.message if isinstance(exc, SdlabError) else (exc.strerror or str(exc))
            rows.append(ModelEntry(entry.name, "unreadable", "", str(entry), reason))
            continue
        rows.append(ModelEntry(entry.name, kind, family.value + (" inpainting" if inpainting else ""), str(entry)))
    return rows
