"""Writing a trained LoRA: kohya's layout with the `ss_*` metadata A1111 and ComfyUI read, or diffusers'.

Both are single safetensors files written atomically; both load in sdlab and in plain
diffusers `load_lora_weights`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import save

from sdlab.atomic import write_bytes
from sdlab.engine.lora_kohya import diffusers_to_kohya
from sdlab.requests.lora_training import LoraTrainRequest, OutputFormat
from sdlab.training.lora.data import Example

BASE_VERSIONS = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}
ARCHITECTURES = {"sd1": "stable-diffusion-v1/lora", "sd2": "stable-diffusion-v2-512/lora", "sdxl": "stable-diffusion-xl-v1-base/lora"}


def tag_frequency(examples: list[Example]) -> dict[str, dict[str, int]]:
    """kohya's ss_tag_frequency: per data folder, how often each comma-separated caption tag occurs."""
    table: dict[str, Counter[str]] = {}
    for example in examples:
        counts = table.setdefault(example.path.parent.name, Counter())
        counts.update(tag.strip() for tag in example.caption.split(",") if tag.strip())
    return {folder: dict(counts) for folder, counts in table.items()}


def training_metadata(request: LoraTrainRequest, family: str, examples: list[Example], model_name: str,
                      resolution: int, steps: int, started: float, processes: int) -> dict[str, str]:
    """The `ss_*` (kohya) and `modelspec.*` (Stability's model spec) fields of the output file."""
    folders: dict[str, dict[str, int]] = {}
    for example in examples:
        entry = folders.setdefault(example.path.parent.name, {"n_repeats": example.repeats, "img_count": 0})
        entry["img_count"] += 1
    meta = {
        "ss_network_module": "networks.lora", "ss_network_dim": str(request.rank),
        "ss_network_alpha": str(request.lora_alpha), "ss_base_model_version": BASE_VERSIONS[family],
        "ss_v2": str(family == "sd2"), "ss_sd_model_name": model_name, "ss_resolution": f"({resolution}, {resolution})",
        "ss_num_train_images": str(sum(e.repeats for e in examples)), "ss_max_train_steps": str(request.steps),
        "ss_steps": str(steps), "ss_learning_rate": str(request.unet_lr), "ss_unet_lr": str(request.unet_lr),
        "ss_text_encoder_lr": str(request.text_encoder_lr if request.train_text_encoder else 0.0),
        "ss_network_train_unet_only": str(not request.train_text_encoder),
        "ss_lr_scheduler": request.lr_schedule.value, "ss_lr_warmup_steps": str(request.warmup_steps),
        "ss_batch_size_per_device": str(request.batch_size),
        "ss_total_batch_size": str(request.batch_size * request.gradient_accumulation * processes),
        "ss_gradient_accumulation_steps": str(request.gradient_accumulation),
        "ss_gradient_checkpointing": str(request.gradient_checkpointing), "ss_mixed_precision": request.mixed_precision,
        "ss_optimizer": request.optimizer, "ss_seed": str(request.seed), "ss_cache_latents": str(request.cache_latents),
        "ss_min_snr_gamma": str(request.min_snr_gamma), "ss_noise_offset": str(request.noise_offset),
        "ss_caption_dropout_rate": str(request.caption_dropout), "ss_max_grad_norm": str(request.max_grad_norm),
        "ss_flip_aug": str(request.flip), "ss_enable_bucket": "True",
        "ss_dataset_dirs": json.dumps(folders), "ss_tag_frequency": json.dumps(tag_frequency(examples)),
        "ss_training_started_at": str(started), "ss_training_finished_at": str(time.time()),
        "ss_training_comment": request.comment or "", "ss_output_name": Path(request.output).stem,
        "modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": ARCHITECTURES[family],
        "modelspec.implementation": "diffusers", "modelspec.title": Path(request.output).stem,
        "modelspec.resolution": f"{resolution}x{resolution}",
        "modelspec.date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        "sdlab_training": json.dumps(request.model_dump(mode="json")),
    }
    if request.instance_prompt:
        meta["modelspec.trigger_phrase"] = request.instance_prompt
    return meta


def _weights_hashes(blob: bytes) -> tuple[str, str]:
    """kohya's sshs_model_hash (SHA-256 of the tensor bytes after the header) and sshs_legacy_hash."""
    header_length = struct.unpack("<Q", blob[:8])[0]
    model = hashlib.sha256(blob[8 + header_length:]).hexdigest()
    legacy = hashlib.sha256(blob[0x100000:0x110000]).hexdigest()[:8]
    return model, legacy


def write_lora(path: Path, parts: dict[str, dict[str, torch.Tensor]], configs: dict[str, dict], alpha: float,
               output_format: OutputFormat, metadata: dict[str, str], sdxl_layers_per_block: int | None,
               overwrite: bool) -> Path:
    """Write adapter state dicts (`parts`: component -> peft state) as one LoRA file at `path`, atomically."""
    prefixed = {f"{component}.{key}": tensor for component, state in parts.items() for key, tensor in state.items()}
    if output_format is OutputFormat.kohya:
        alphas = {key.rsplit(".lora_A.", 1)[0]: alpha for key in prefixed if ".lora_A." in key}
        tensors = diffusers_to_kohya(prefixed, alphas, sdxl_layers_per_block)
        meta = dict(metadata)
    else:
        tensors = prefixed
        # diffusers reads these back to restore alpha (it otherwise assumes alpha = rank).
        packed = {f"{c}.{k}": sorted(v) if isinstance(v, set) else v for c in parts for k, v in configs[c].items()}
        meta = {"format": "pt", "lora_adapter_metadata": json.dumps(packed, sort_keys=True, default=str), **metadata}
    blob = save(tensors, metadata=meta)
    if output_format is OutputFormat.kohya:
        model_hash, legacy_hash = _weights_hashes(blob)
        blob = save(tensors, metadata={**meta, "sshs_model_hash": model_hash, "sshs_legacy_hash": legacy_hash})
    return write_bytes(path, blob, overwrite=overwrite)

