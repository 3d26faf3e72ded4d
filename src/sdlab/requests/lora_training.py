"""The typed, validated request for training a LoRA, shared by the CLI, the Python API and the exercises.

Defaults follow what kohya's sd-scripts and diffusers' LoRA recipe users expect; `None` means
"decided from the model or the other options" and is resolved by the trainer.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sdlab.requests.generation import usage_error_from

_ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")
_TRANSFORMER = _ATTENTION + ("proj_in", "proj_out", "ff.net.0.proj", "ff.net.2")
#: LoRA target layers. "attention": q/k/v/out of every attention (diffusers' recipe);
#: "transformer": also the feed-forward and projection layers of each transformer block (kohya's default set);
#: "all": also the 3x3 convolutions of the ResNet blocks (kohya's LoCon, "conv_dim").
UNET_TARGETS = {
    "attention": _ATTENTION,
    "transformer": _TRANSFORMER,
    "all": _TRANSFORMER + ("conv1", "conv2"),
}
TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


class OutputFormat(str, Enum):
    kohya = "kohya"
    diffusers = "diffusers"


class LrSchedule(str, Enum):
    constant = "constant"
    cosine = "cosine"


class LoraTrainRequest(BaseModel):
    """Train LoRA adapters on a frozen Stable Diffusion model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: str
    output: str
    model: str | None = None
    instance_prompt: str | None = None
    validation_data: str | None = None
    validation_split: float = Field(0.0, ge=0.0, lt=1.0)
    resolution: int | None = Field(None, ge=8, le=4096, multiple_of=8)
    flip: bool = False
    rank: int = 16
    alpha: float | None = None
    unet_targets: str = "transformer"
    train_text_encoder: bool = False
    unet_lr: float = Field(1e-4, gt=0, le=1.0)
    text_encoder_lr: float = Field(5e-5, gt=0, le=1.0)
    lr_schedule: LrSchedule = LrSchedule.constant
    warmup_steps: int = Field(0, ge=0)
    steps: int = Field(500, ge=1, le=10_000_000)
    batch_size: int = Field(1, ge=1, le=4096)
    gradient_accumulation: int = Field(1, ge=1, le=4096)
    gradient_checkpointing: bool = False
    mixed_precision: str = "auto"
    optimizer: str = "adamw"
    weight_decay: float = Field(1e-2, ge=0.0)
    max_grad_norm: float = Field(1.0, ge=0.0)
    cache_latents: bool = True
    cache_text_embeddings: bool | None = None
    min_snr_gamma: float | None = Field(None, gt=0)
    noise_offset: float = Field(0.0, ge=0.0, le=1.0)
    caption_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    seed: int = Field(0, ge=0, lt=2**32)
    checkpoint_every: int = Field(0, ge=0)
    resume: bool = False
    sample_every: int = Field(0, ge=0)
    sample_prompts: tuple[str, ...] = ()
    validate_every: int = Field(0, ge=0)
    class_prompt: str | None = None  # prior preservation: the class the subject belongs to, e.g. "a star"
    reg_data: str | None = None  # prior preservation: class (regularization) images; generated when not given
    prior_loss_weight: float = Field(1.0, ge=0.0, le=100.0)
    class_images: int = Field(50, ge=1, le=100_000)  # class images to generate from the base model when no reg_data
    output_format: OutputFormat = OutputFormat.kohya
    overwrite: bool = False
    device: str = "auto"
    allow_pickle: bool = False
    comment: str | None = None

    @field_validator("data", "output")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("rank")
    @classmethod
    def _rank(cls, v: int) -> int:
        if not 1 <= v <= 1024:
            raise ValueError(f"must be between 1 and 1024, got {v}")
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"must be above 0, got {v}")
        return v

    @field_validator("unet_targets")
    @classmethod
    def _targets(cls, v: str) -> str:
        if v not in UNET_TARGETS:
            raise ValueError(f"unknown target set {v!r}; valid: {', '.join(UNET_TARGETS)}")
        return v

    @field_validator("mixed_precision")
    @classmethod
    def _precision(cls, v: str) -> str:
        if v not in ("auto", "no", "fp16", "bf16"):
            raise ValueError(f"unknown precision {v!r}; valid: auto, no, fp16, bf16")
        return v

    @field_validator("optimizer")
    @classmethod
    def _optimizer(cls, v: str) -> str:
        if v not in ("adamw", "adamw8bit"):
            raise ValueError(f"unknown optimizer {v!r}; valid: adamw, adamw8bit")
        return v

    @field_validator("output")
    @classmethod
    def _suffix(cls, v: str) -> str:
        if Path(v).suffix.lower() != ".safetensors":
            raise ValueError(f"must end in .safetensors (LoRA files are never pickled), got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "LoraTrainRequest":
        if self.train_text_encoder and self.cache_text_embeddings:
            raise ValueError("cache-text-embeddings: cannot cache the text embeddings while the text encoder trains; "
                             "drop --train-text-encoder or --cache-text-embeddings")
        if self.sample_every and not self.sample_prompts:
            raise ValueError("sample-prompt: --sample-every needs at least one --sample-prompt")
        if self.validate_every and not (self.validation_data or self.validation_split):
            raise ValueError("validate-every: needs --validation-data or --validation-split")
        if not self.preserves_prior and self.model_fields_set & {"prior_loss_weight", "class_images"}:
            raise ValueError("class-prompt: prior preservation (--prior-loss-weight, --class-images) needs "
                             "--class-prompt (and optionally --reg-data)")
        if self.reg_data is not None and "class_images" in self.model_fields_set:
            raise ValueError("class-images: generated class images are for runs without --reg-data")
        if self.warmup_steps >= self.steps and self.warmup_steps:
            raise ValueError(f"warmup-steps: must be below --steps ({self.steps}), got {self.warmup_steps}")
        return self

    @property
    def lora_alpha(self) -> float:
        """alpha, defaulting to rank (an update scale of 1, as diffusers assumes)."""
        return float(self.alpha if self.alpha is not None else self.rank)

    @property
    def preserves_prior(self) -> bool:
        """DreamBooth's prior preservation: every step also learns the class images, weighted by prior_loss_weight."""
        return self.class_prompt is not None or self.reg_data is not None

    @property
    def caches_text(self) -> bool:
        return not self.train_text_encoder if self.cache_text_embeddings is None else self.cache_text_embeddings

    def work_dir(self) -> Path:
        """Where checkpoints, samples and the loss log go: next to the output, named after it."""
        out = Path(self.output)
        return out.with_name(out.stem + ".training")

    def run_signature(self) -> dict[str, Any]:
        """What a resumed run must share with the run that wrote the checkpoint (everything that shapes the weights)."""
        volatile = {"resume", "overwrite", "checkpoint_every", "sample_every", "sample_prompts", "validate_every",
                    "output_format", "comment", "device", "allow_pickle"}
        if self.lr_schedule is LrSchedule.constant:
            volatile.add("steps")  # a constant schedule may be extended; a cosine one is shaped by its length
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in volatile}


def build_lora_request(**fields: Any) -> LoraTrainRequest:
    """Validate `fields` into a training request; the first problem becomes one UsageError line."""
    try:
        return LoraTrainRequest(**fields)
    except ValidationError as exc:
        raise usage_error_from(exc, LoraTrainRequest) from None
