"""The one typed, validated generation request every front end builds.

Fields left as None mean "the model's default" and are resolved by the engine
(`Resolved`), so the metadata of a result always records the actual values.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sdlab.errors import UsageError
from sdlab.requests.lora_tags import LoraTag, check_weight, split_tags
from sdlab.requests.result import SEED_RANGE


class Task(str, Enum):
    txt2img = "txt2img"
    img2img = "img2img"
    inpaint = "inpaint"


class ResizeMode(str, Enum):
    """How an input image is brought to another width and height (A1111's resize modes 0, 1, 2)."""

    resize = "resize"  # "Just resize": stretched to the size
    crop = "crop"  # "Crop and resize": covers the size, the overflow cropped evenly
    fill = "fill"  # "Resize and fill": fits inside, the margins filled from the image's own edges


#: Longest prompt (and negative prompt) taken, in characters: about 300 chunks of 75 tokens.
MAX_PROMPT_CHARS = 100_000
#: What starts the negative prompt in A1111's infotext; a prompt line starting so could not be told apart.
NEGATIVE_MARKER = "Negative prompt:"


class LoraRef(BaseModel):
    """A LoRA file (or a name looked up in the LoRA folder) and its weight; 0 turns it off."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    weight: float = 1.0

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        return check_weight(v)

    @classmethod
    def parse(cls, spec: str) -> "LoraRef":
        """'style.safetensors:0.7' or 'style' (weight 1); a suffix after the last colon must be a number."""
        path, colon, suffix = spec.rpartition(":")
        if not colon or "/" in suffix or "\\" in suffix:  # no weight (a colon inside a path is not one)
            return cls(path=spec)
        try:
            weight = float(suffix)
        except ValueError:
            raise UsageError("lora", f"{spec!r}: weight {suffix!r} is not a number; give FILE or FILE:WEIGHT") from None
        try:
            return cls(path=path, weight=weight)
        except ValidationError as exc:
            raise UsageError("lora", f"{spec!r}: weight {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


class GenerationRequest(BaseModel):
    """A request for images: text-to-image, image-to-image or inpainting."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", validate_assignment=True)

    task: Task = Task.txt2img
    prompt: str = ""
    negative_prompt: str = ""
    model: str | None = Field(None, description="hub id, diffusers folder, .safetensors file; None = embedded sdlab-shapes")
    sampler: str | None = Field(None, description="A1111 sampler name, e.g. 'DPM++ 2M Karras'; None = model default")
    schedule: str | None = Field(None, description="schedule type: karras, exponential, beta, sgm uniform, ...")
    steps: int | None = None
    cfg: float | None = Field(None, description="classifier-free guidance scale; 1 skips the unconditional pass")
    seed: int = Field(-1, description="-1 picks a random seed and records it")
    width: int | None = None
    height: int | None = None
    batch_size: int = 1
    batch_count: int = 1
    # image-to-image and inpainting
    image: Any = Field(None, description="path or PIL image")
    strength: float | None = None
    resize_mode: ResizeMode = Field(ResizeMode.resize, description="how the input is brought to width x height when they differ")
    mask: Any = Field(None, description="path or PIL image; white (or opaque alpha) = regenerate")
    mask_blur: int = 4
    inpaint_only_masked: bool = False
    inpaint_padding: int = 32
    # latent-space walks
    variation_seed: int = Field(-1, description="A1111's variation seed, whose noise is mixed in; -1 = random")
    variation_strength: float | None = Field(None, description="0 = the seed's noise, 1 = the variation seed's (slerp between)")
    blend_prompt: str | None = Field(None, description="a second prompt; the prompt's embedding moves towards it")
    blend: float | None = Field(None, description="with blend_prompt: 0 = the prompt only, 1 = blend_prompt only (lerp); default 0.5")
    # adapters (also `<lora:NAME:WEIGHT>` in the prompt, looked up in lora_dir)
    loras: tuple[LoraRef, ...] = ()
    lora_dir: str | None = Field(None, description="folder for <lora:NAME> tags (default $SDLAB_LORAS)")
    fuse_loras: bool = Field(False, description="bake the LoRAs into the weights for speed (undone when they change)")
    # loading, device, memory
    config: str | None = Field(None, description="diffusers folder or hub id giving the architecture of a single-file model")
    allow_pickle: bool = False
    device: str = "auto"
    dtype: str = "auto"
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    safety_checker: bool = False

    @field_validator("prompt", "negative_prompt", "blend_prompt")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        """Prompts are taken without surrounding white space (the text encoder ignores it), so what the metadata
        records reads back identically."""
        if v is None:
            return v
        if len(v) > MAX_PROMPT_CHARS:
            raise ValueError(f"is {len(v)} characters long; at most {MAX_PROMPT_CHARS} are taken")
        if "\0" in v:
            raise ValueError("contains a NUL character")
        v = v.strip()
        if any(line.startswith(NEGATIVE_MARKER) for line in v.split("\n")):
            raise ValueError(f"a line starts with {NEGATIVE_MARKER!r}, which would make the image's metadata "
                             "ambiguous; give the negative prompt on its own (--negative)")
        return v

    @field_validator("prompt")
    @classmethod
    def _tags(cls, v: str) -> str:
        split_tags(v)  # every <lora:...> tag is a valid name and weight
        return v

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= 1000:
            raise ValueError(f"must be between 1 and 1000, got {v}")
        return v

    @field_validator("width", "height")
    @classmethod
    def _size(cls, v: int | None) -> int | None:
        if v is not None and (v < 8 or v % 8 or v > 8192):
            raise ValueError(f"must be a multiple of 8 between 8 and 8192, got {v}")
        return v

    @field_validator("strength")
    @classmethod
    def _strength(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f"must be between 0 and 1 (0 = keep the input, 1 = ignore it), got {v}")
        return v

    @field_validator("variation_strength", "blend")
    @classmethod
    def _fraction(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f"must be between 0 and 1, got {v}")
        return v

    @field_validator("blend_prompt")
    @classmethod
    def _blend_prompt(cls, v: str | None) -> str | None:
        if v is not None and "<lora:" in v:
            raise ValueError("takes no <lora:...> tags; put them in the prompt")
        return v

    @field_validator("cfg")
    @classmethod
    def _cfg(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 <= v <= 100.0:
            raise ValueError(f"must be between 0 and 100, got {v}")
        return v

    @field_validator("batch_size", "batch_count")
    @classmethod
    def _batch(cls, v: int) -> int:
        if not 1 <= v <= 256:
            raise ValueError(f"must be between 1 and 256, got {v}")
        return v

    @field_validator("seed", "variation_seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if not -1 <= v < SEED_RANGE:
            raise ValueError(f"must be -1 (random) or between 0 and 4294967295, got {v}")
        return v

    @field_validator("mask_blur", "inpaint_padding")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if not 0 <= v <= 256:
            raise ValueError(f"must be between 0 and 256, got {v}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v not in ("auto", "cpu", "mps") and not re.fullmatch(r"cuda(:\d{1,3})?", v):
            raise ValueError(f"must be auto, cpu, mps, cuda or cuda:N, got {v!r}")
        return v

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str) -> str:
        if v not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError(f"must be auto, fp32, fp16 or bf16, got {v!r}")
        return v

    @model_validator(mode="after")
    def _task_inputs(self) -> "GenerationRequest":
        if self.task in (Task.img2img, Task.inpaint) and self.image is None:
            raise ValueError(f"image: {self.task.value} needs an input image (--image)")
        if self.task is Task.inpaint and self.mask is None:
            raise ValueError("mask: inpainting needs a mask (--mask); white = regenerate, black = keep")
        if self.task is Task.txt2img and (self.image is not None or self.mask is not None):
            raise ValueError("image: text-to-image takes no input image; use img2img or inpaint")
        if self.task is Task.txt2img and self.strength is not None:
            raise ValueError("strength: applies to img2img and inpainting only; text-to-image has no input to keep")
        if self.variation_strength and self.task is not Task.txt2img:
            raise ValueError("variation-strength: variation seeds work with text-to-image only "
                             "(diffusers' img2img and inpaint pipelines take no initial noise)")
        if self.variation_seed != -1 and self.variation_strength is None:
            raise ValueError("variation-seed: has no effect without a variation strength above 0 (--variation-strength)")
        if self.blend is not None and self.blend_prompt is None:
            raise ValueError("blend: has no effect without a blend prompt (--blend-prompt) to move towards")
        return self

    @property
    def lora_tags(self) -> list[LoraTag]:
        """The prompt's <lora:NAME:WEIGHT> tags."""
        return split_tags(self.prompt)[1]

    @property
    def encoder_prompt(self) -> str:
        """The prompt without its LoRA tags: what the text encoder sees."""
        return split_tags(self.prompt)[0]


def build_request(**fields: Any) -> GenerationRequest:
    """Validate `fields` into a request, turning pydantic's report into one UsageError line."""
    try:
        return GenerationRequest(**fields)
    except ValidationError as exc:
        raise usage_error_from(exc) from None


def usage_error_from(exc: ValidationError, model: type[BaseModel] = GenerationRequest) -> UsageError:
    """The first problem of a pydantic ValidationError as a UsageError naming the argument."""
    error = exc.errors()[0]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    location = [str(part) for part in error.get("loc", ())]
    if location:
        argument = location[0].replace("_", "-")
    elif ": " in message:
        argument, message = message.split(": ", 1)
    else:
        argument = "request"
    if error.get("type") == "extra_forbidden":
        message = f"unknown option; valid options: {', '.join(sorted(model.model_fields))}"
    elif "got" not in message and "input" in error:
        message += f", got {str(error['input'])[:60]!r}"
    return UsageError(argument, message)
