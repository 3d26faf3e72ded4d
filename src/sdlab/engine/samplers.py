"""The sampler registry: A1111 / ComfyUI names mapped to diffusers scheduler classes and options.

A sampler is swapped by building a new scheduler from the model's own scheduler
config (`from_config`), so the weights are never reloaded.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from types import MappingProxyType

import diffusers

from sdlab.errors import UsageError


@dataclass(frozen=True)
class Sampler:
    """An A1111 sampler name, the diffusers class behind it, and the options it sets."""

    name: str
    scheduler: str
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    aliases: tuple[str, ...] = ()


def _s(name: str, scheduler: str, aliases: tuple[str, ...] = (), **options) -> Sampler:
    return Sampler(name, scheduler, MappingProxyType(options), aliases)


SAMPLERS: tuple[Sampler, ...] = (
    _s("Euler", "EulerDiscreteScheduler", ("euler", "k_euler")),
    _s("Euler a", "EulerAncestralDiscreteScheduler", ("euler_a", "euler_ancestral", "k_euler_a", "euler ancestral")),
    _s("Heun", "HeunDiscreteScheduler", ("heun", "k_heun")),
    _s("LMS", "LMSDiscreteScheduler", ("lms", "k_lms")),
    _s("DPM2", "KDPM2DiscreteScheduler", ("dpm_2", "k_dpm_2")),
    _s("DPM2 a", "KDPM2AncestralDiscreteScheduler", ("dpm_2_ancestral", "k_dpm_2_a", "dpm2_a")),
    _s("DPM++ 2M", "DPMSolverMultistepScheduler", ("dpmpp_2m", "k_dpmpp_2m", "dpm++2m", "dpm-solver++"),
       algorithm_type="dpmsolver++", solver_order=2),
    _s("DPM++ SDE", "DPMSolverSDEScheduler", ("dpmpp_sde", "k_dpmpp_sde")),
    _s("DPM++ 2M SDE", "DPMSolverMultistepScheduler", ("dpmpp_2m_sde", "k_dpmpp_2m_sde"),
       algorithm_type="sde-dpmsolver++", solver_order=2),
    _s("DPM++ 2S", "DPMSolverSinglestepScheduler", ("dpmpp_2s", "dpm++ singlestep"), solver_order=2),
    _s("DDIM", "DDIMScheduler", ("ddim",)),
    _s("PLMS", "PNDMScheduler", ("plms", "pndm"), skip_prk_steps=True),
    _s("UniPC", "UniPCMultistepScheduler", ("uni_pc", "unipc")),
    _s("LCM", "LCMScheduler", ("lcm",)),
    _s("DDPM", "DDPMScheduler", ("ddpm",)),
)

#: Schedule types (A1111's "Schedule type", ComfyUI's "scheduler") and the scheduler option each sets.
SCHEDULES: MappingProxyType[str, MappingProxyType] = MappingProxyType({
    "karras": MappingProxyType({"use_karras_sigmas": True}),
    "exponential": MappingProxyType({"use_exponential_sigmas": True}),
    "beta": MappingProxyType({"use_beta_sigmas": True}),
    "sgm uniform": MappingProxyType({"timestep_spacing": "trailing"}),
    "uniform": MappingProxyType({"timestep_spacing": "linspace"}),
    "automatic": MappingProxyType({}),
})
#: Stable Diffusion's own scheduler settings, used where a model's config does not say.
LATENT_DIFFUSION_DEFAULTS = MappingProxyType({"clip_sample": False, "set_alpha_to_one": False, "thresholding": False})

_SCHEDULE_ALIASES = MappingProxyType({"sgm_uniform": "sgm uniform", "normal": "automatic", "default": "automatic", "simple": "sgm uniform"})


def _key(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


def resolve(name: str, schedule: str | None = None) -> tuple[Sampler, str | None]:
    """Find a sampler by name (case-insensitive, aliases, A1111's "X Karras" suffix) and its schedule."""
    key = _key(name)
    for suffix in SCHEDULES:
        if key.endswith(" " + suffix) and _find(key) is None:
            named = resolve_schedule(suffix)
            if schedule is not None and resolve_schedule(schedule) != named:
                raise UsageError("schedule", f"{schedule!r} conflicts with the sampler {name!r}, which names the "
                                 f"{suffix} schedule; drop one of them")
            key, schedule = key[: -len(suffix) - 1], suffix
            break
    sampler = _find(key)
    if sampler is not None:
        return sampler, resolve_schedule(schedule)
    raise UsageError("sampler", f"unknown sampler {name!r}; valid: {', '.join(s.name for s in SAMPLERS)} "
                     f"(add a schedule type: {', '.join(SCHEDULES)}, e.g. 'DPM++ 2M Karras')")


def _find(key: str) -> Sampler | None:
    for sampler in SAMPLERS:
        if key in {_key(sampler.name), *(_key(a) for a in sampler.aliases)}:
            return sampler
    return None


def resolve_schedule(schedule: str | None) -> str | None:
    if schedule is None:
        return None
    key = _key(schedule)
    key = _SCHEDULE_ALIASES.get(key.replace(" ", "_"), _SCHEDULE_ALIASES.get(key, key))
    if key not in SCHEDULES:
        raise UsageError("schedule", f"unknown schedule type {schedule!r}; valid: {', '.join(SCHEDULES)}")
    return None if key == "automatic" else key


def display_name(sampler: Sampler, schedule: str | None) -> str:
    """The name A1111 writes in infotext, e.g. 'DPM++ 2M Karras'."""
    return sampler.name if schedule is None else f"{sampler.name} {schedule.title() if schedule != 'sgm uniform' else 'SGM Uniform'}"


def make_scheduler(base_config, sampler: Sampler, schedule: str | None):
    """A new scheduler of `sampler`'s class from a model's scheduler config, with the sampler's and schedule's options."""
    cls = getattr(diffusers, sampler.scheduler)
    accepted = inspect.signature(cls.__init__).parameters
    options = dict(sampler.options)
    if schedule is not None:
        extra = dict(SCHEDULES[schedule])
        missing = [k for k in extra if k not in accepted]
        if missing:
            raise UsageError("schedule", f"{sampler.name} does not support the {schedule} schedule")
        options.update(extra)
    if sampler.scheduler == "DPMSolverSDEScheduler":
        try:
            import torchsde  # noqa: F401
        except ImportError:
            raise UsageError("sampler", "DPM++ SDE needs the torchsde package: pip install torchsde") from None
    # Latent diffusion never clips x0 to [-1, 1]; a config saved for another sampler (DPM++, Euler) omits these
    # keys, and the class defaults (clip_sample=True, set_alpha_to_one=True) would then ruin the image.
    config = {k: v for k, v in LATENT_DIFFUSION_DEFAULTS.items() if k in accepted}
    config.update({k: v for k, v in dict(base_config).items() if k in accepted})
    # Options the model's previous sampler set must not leak into this one.
    for stale in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "algorithm_type", "solver_order", "skip_prk_steps"):
        config.pop(stale, None)
    if "timestep_spacing" in options or config.get("timestep_spacing") not in ("leading", "trailing", "linspace"):
        config.pop("timestep_spacing", None)
    return cls.from_config(config, **options)


#: Solvers that divide by the step between two noise levels: a repeated level makes them NaN.
_STEP_DIVIDING = ("DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler", "UniPCMultistepScheduler")


def _usable(scheduler, steps: int) -> bool:
    scheduler.set_timesteps(steps)
    if type(scheduler).__name__ not in _STEP_DIVIDING:
        return True
    sigmas = scheduler.sigmas[:-1]
    return bool((sigmas[1:] != sigmas[:-1]).all())


def check_steps(scheduler, sampler: Sampler, steps: int) -> None:
    """Refuse a step count the sampler cannot run on this model's schedule (instead of decoding NaN or failing
    mid-run): multistep solvers break where the schedule repeats a noise level, LCM above its original steps."""
    original = getattr(scheduler.config, "original_inference_steps", None)
    if isinstance(original, int) and steps > original:
        raise UsageError("steps", f"{sampler.name} runs at most {original} steps (its distilled schedule's); got {steps}")
    try:
        usable = _usable(scheduler, steps)
    except ValueError as exc:
        raise UsageError("steps", f"{sampler.name} cannot run {steps} steps here ({str(exc).splitlines()[0][:200]})") from None
    if usable:
        return
    most = next((n for n in range(steps - 1, 0, -1) if _usable(scheduler, n)), 1)
    raise UsageError("steps", f"{sampler.name} cannot run {steps} steps on this model's schedule: above {most} steps "
                     "it repeats a noise level and its solver divides by zero; use at most "
                     f"{most} steps, a schedule type such as karras, or a sampler like Euler or DDIM")
