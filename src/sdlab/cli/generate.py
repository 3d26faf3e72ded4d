"""`sdlab generate`, `sdlab img2img`, `sdlab inpaint`: options in, request to the engine, files out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from sdlab.cli import common as c
from sdlab.engine.images import read_parameters
from sdlab.errors import UsageError
from sdlab.outputs import image_outputs
from sdlab.requests.infotext import request_fields

def run(task: str, prompt: Optional[str], options: dict[str, Any], output: Path, overwrite: bool, as_json: bool,
        from_image: Optional[Path]) -> None:
    """Merge --from values with explicit options, check the destination, generate with a progress bar, save, report."""
    from sdlab.requests import build_request

    recorded = request_fields_of(from_image, task) if from_image else {}
    explicit = {k: v for k, v in options.items() if v is not None} | ({"prompt": prompt} if prompt is not None else {})
    try:
        request = build_request(task=task, **(recorded | explicit))
        outputs = image_outputs(output, request.batch_size * request.batch_count, overwrite)
        with _progress() as progress:  # the engine checks inputs, LoRAs, sampler and model before drawing anything
            result = c.engine().generate(request, progress=progress)
    except UsageError as exc:
        field = (exc.argument or "").replace("-", "_")
        if field in recorded and field not in explicit:  # the bad value came from the image's metadata
            raise UsageError("from_image", f"{from_image}: its {field.replace('_', ' ')}: {exc.message}") from None
        raise
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    written = []
    for index, item in enumerate(result.images):
        path = outputs.save(index, item.image, item.seed, item.infotext)
        written.append({"path": str(path), "seed": item.seed, "nsfw": item.nsfw, "parameters": item.parameters,
                        "infotext": item.infotext})
        if item.nsfw:
            typer.echo(f"warning: the safety checker flagged {path}", err=True)
    if as_json:
        c.print_json({"images": written, "warnings": result.warnings, "seconds": round(result.seconds, 3)})
    else:
        for entry in written:
            typer.echo(entry["path"])


def request_fields_of(image: Path, task: str = "txt2img") -> dict[str, Any]:
    """The request fields for `task` that an image's A1111 infotext records (--from)."""
    text = read_parameters(image, "from_image")
    if not text:
        raise UsageError("from_image", f"{image} carries no generation parameters (no A1111 'parameters' text)")
    try:
        return request_fields(text, "from_image", task)
    except UsageError as exc:
        raise UsageError("from_image", f"{image}: {exc.message}") from None


class _progress:
    """A rich progress bar over denoising steps, on stderr, shown from the first step on."""

    def __enter__(self):
        self.bar = None
        self.task = None
        return self

    def __call__(self, event) -> None:
        step, total = event.step, event.total
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("denoising"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.bar.start()
        if self.task is None or step == 1:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task("denoising", total=total)
        self.bar.update(self.task, completed=step)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _options(**kw: Any) -> dict[str, Any]:
    """CLI names -> request fields."""
    flags = ("attention_slicing", "vae_slicing", "vae_tiling", "cpu_offload", "safety_checker", "allow_pickle",
             "fuse_loras")
    out = {c.FIELD_FOR_OPTION.get(k, k): v for k, v in kw.items()}
    loras = out.pop("loras", None)
    if loras:
        out["loras"] = tuple(c.parse_lora(value) for value in loras)
    for flag in flags:
        if out.get(flag) is False:
            out[flag] = None  # unset flags leave the request default
    for key in ("device", "dtype"):
        if out.get(key) == "auto":
            out[key] = None
    return out


def generate(
    prompt: Annotated[Optional[str], typer.Argument(help="What to draw (A1111 syntax: (word:1.3), [word], BREAK).")] = None,
    negative: c.Negative = None, model: c.Model = None, config: c.Config = None, sampler: c.Sampler = None,
    schedule: c.Schedule = None, steps: c.Steps = None, cfg: c.Cfg = None, seed: c.Seed = None,
    width: c.Width = None, height: c.Height = None, batch_size: c.BatchSize = None, batch_count: c.BatchCount = None,
    output: c.Output = Path("outputs"), overwrite: c.Overwrite = False, as_json: c.AsJson = False,
    from_image: c.FromImage = None, device: c.Device = "auto", dtype: c.Dtype = "auto",
    attention_slicing: c.AttentionSlicing = False, vae_slicing: c.VaeSlicing = False, vae_tiling: c.VaeTiling = False,
    cpu_offload: c.CpuOffload = False, safety_checker: c.SafetyChecker = False, allow_pickle: c.AllowPickle = False,
    lora: c.Lora = None, lora_dir: c.LoraDir = None, fuse_loras: c.FuseLoras = False,
    variation_seed: c.VariationSeed = None, variation_strength: c.VariationStrength = None,
    blend_prompt: c.BlendPrompt = None, blend: c.Blend = None,
) -> None:
    """Text-to-image.

    Examples:\n
      sdlab generate "a red circle on a white background" --seed 1\n
      sdlab generate "a (blue:1.2) square" --cfg 5 --sampler "Euler a" -b 4 -o out/\n
      sdlab generate --from out/00000-1.png          # re-run an image's parameters\n
      sdlab generate "a red circle on a white background" --seed 1 --variation-seed 2 --variation-strength 0.3\n
      sdlab generate "a red circle on a white background" --blend-prompt "a blue square on a black background" --blend 0.5\n
      sdlab generate "a castle" --model runwayml/stable-diffusion-v1-5 --steps 25\n
      sdlab generate "a castle <lora:ghibli:0.8>" --model ./sd15 --lora-dir ./loras --lora detail.safetensors:0.5
    """
    if prompt is None and from_image is None:
        raise UsageError("prompt", "give a prompt, or --from IMAGE to re-run an image's parameters")
    options = _options(**{k: v for k, v in locals().items() if k not in ("prompt", "output", "overwrite", "as_json", "from_image")})
    run("txt2img", prompt, options, output, overwrite, as_json, from_image)


def img2img(
    prompt: Annotated[Optional[str], typer.Argument(help="What the result should show.")] = None,
    image: c.Image = ..., strength: c.Strength = None, resize_mode: c.ResizeModeOption = None,
    negative: c.Negative = None, model: c.Model = None, config: c.Config = None, sampler: c.Sampler = None,
    schedule: c.Schedule = None, steps: c.Steps = None, cfg: c.Cfg = None, seed: c.Seed = None,
    width: c.Width = None, height: c.Height = None, batch_size: c.BatchSize = None, batch_count: c.BatchCount = None,
    output: c.Output = Path("outputs"), overwrite: c.Overwrite = False, as_json: c.AsJson = False,
    from_image: c.FromImage = None, device: c.Device = "auto", dtype: c.Dtype = "auto",
    attention_slicing: c.AttentionSlicing = False, vae_slicing: c.VaeSlicing = False, vae_tiling: c.VaeTiling = False,
    cpu_offload: c.CpuOffload = False, safety_checker: c.SafetyChecker = False, allow_pickle: c.AllowPickle = False,
    lora: c.Lora = None, lora_dir: c.LoraDir = None, fuse_loras: c.FuseLoras = False,
    blend_prompt: c.BlendPrompt = None, blend: c.Blend = None,
) -> None:
    """Image-to-image: noise the input by --strength, then denoise towards the prompt.

    Examples:\n
      sdlab img2img "a blue square on a black background" --image in.png --strength 0.6\n
      sdlab img2img "oil painting" -i photo.jpg --strength 0.5 --model ./sd15 --seed 42
    """
    options = _options(**{k: v for k, v in locals().items() if k not in ("prompt", "output", "overwrite", "as_json", "from_image")})
    options["image"] = str(image)
    run("img2img", prompt, options, output, overwrite, as_json, from_image)


def inpaint(
    prompt: Annotated[Optional[str], typer.Argument(help="What to paint in the masked area.")] = None,
    image: c.Image = ...,
    mask: Annotated[Path, typer.Option("--mask", help="Mask image: white = regenerate, black = keep (RGBA: opaque = regenerate).")] = ...,
    strength: c.Strength = None, resize_mode: c.ResizeModeOption = None,
    mask_blur: Annotated[Optional[int], typer.Option("--mask-blur", help="Blur radius of the mask edge in pixels (default 4).")] = None,
    only_masked: Annotated[bool, typer.Option("--only-masked", help="Inpaint a crop around the mask at full resolution, then paste back.")] = False,
    padding: Annotated[Optional[int], typer.Option("--padding", help="Pixels of context around the mask with --only-masked (default 32).")] = None,
    negative: c.Negative = None, model: c.Model = None, config: c.Config = None, sampler: c.Sampler = None,
    schedule: c.Schedule = None, steps: c.Steps = None, cfg: c.Cfg = None, seed: c.Seed = None,
    width: c.Width = None, height: c.Height = None, batch_size: c.BatchSize = None, batch_count: c.BatchCount = None,
    output: c.Output = Path("outputs"), overwrite: c.Overwrite = False, as_json: c.AsJson = False,
    from_image: c.FromImage = None, device: c.Device = "auto", dtype: c.Dtype = "auto",
    attention_slicing: c.AttentionSlicing = False, vae_slicing: c.VaeSlicing = False, vae_tiling: c.VaeTiling = False,
    cpu_offload: c.CpuOffload = False, safety_checker: c.SafetyChecker = False, allow_pickle: c.AllowPickle = False,
    lora: c.Lora = None, lora_dir: c.LoraDir = None, fuse_loras: c.FuseLoras = False,
    blend_prompt: c.BlendPrompt = None, blend: c.Blend = None,
) -> None:
    """Inpainting: regenerate the masked area, keep every other pixel.

    Examples:\n
      sdlab inpaint "a green triangle" --image scene.png --mask mask.png\n
      sdlab inpaint "a hat" -i portrait.png --mask hat.png --only-masked --padding 48 --model ./sd15-inpainting
    """
    options = _options(**{k: v for k, v in locals().items() if k not in ("prompt", "output", "overwrite", "as_json", "from_image")})
    options["image"], options["mask"] = str(image), str(mask)
    run("inpaint", prompt, options, output, overwrite, as_json, from_image)
