"""The sampler registry: names, aliases, schedules, exact sigmas, and swapping without reloading."""

import math

import numpy as np
import pytest

from sdlab.engine import samplers
from sdlab.errors import UsageError
from sdlab.requests import build_request


def test_every_sampler_runs(engine, sd1_dir):
    unet = None
    for sampler in samplers.SAMPLERS:
        result = engine.generate(build_request(prompt="a red circle", model=str(sd1_dir), sampler=sampler.name,
                                               steps=3, width=32, height=32, seed=1))
        image = np.asarray(result.images[0].image)
        assert image.shape == (32, 32, 3) and image.std() > 0, sampler.name
        assert result.resolved.sampler == sampler.name
        # Swapping the sampler never reloads the weights: the same UNet object serves every request.
        current = engine.models.get(str(sd1_dir)).pipe.unet
        assert unet is None or current is unet
        unet = current


@pytest.mark.parametrize("typed, name, schedule", [
    ("euler a", "Euler a", None), ("K_EULER_A", "Euler a", None), ("dpm++ 2m karras", "DPM++ 2M", "karras"),
    ("dpmpp_2m_sde", "DPM++ 2M SDE", None), ("DPM++ 2M Exponential", "DPM++ 2M", "exponential"), ("plms", "PLMS", None),
])
def test_names_are_case_insensitive_with_aliases(typed, name, schedule):
    sampler, resolved_schedule = samplers.resolve(typed)
    assert (sampler.name, resolved_schedule) == (name, schedule)


def test_unknown_sampler_lists_the_valid_ones():
    with pytest.raises(UsageError) as info:
        samplers.resolve("Euler b")
    assert info.value.argument == "sampler"
    assert "DPM++ 2M" in info.value.message and "Euler a" in info.value.message


def test_unsupported_schedule_is_refused():
    sampler, _ = samplers.resolve("DDIM")
    with pytest.raises(UsageError, match="does not support the karras schedule"):
        samplers.make_scheduler({"num_train_timesteps": 1000}, sampler, "karras")


def test_karras_sigmas_follow_the_formula():
    """Karras et al. 2022, eq. 5: sigma_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho, rho = 7."""
    from sdlab.training.base.architecture import build_scheduler

    sampler, schedule = samplers.resolve("Euler Karras")
    scheduler = samplers.make_scheduler(build_scheduler().config, sampler, schedule)
    scheduler.set_timesteps(10)
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2
    alphas_cumprod = np.cumprod(1 - betas)
    all_sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
    smin, smax, rho = all_sigmas[0], all_sigmas[-1], 7.0
    ramp = np.linspace(0, 1, 10)
    expected = (smax ** (1 / rho) + ramp * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    assert np.allclose(scheduler.sigmas[:-1].numpy(), expected, rtol=1e-4)
    assert float(scheduler.sigmas[-1]) == 0.0
    assert math.isclose(float(scheduler.sigmas[0]), smax, rel_tol=1e-4)


@pytest.mark.parametrize("sampler, schedule", [("DPM++ 2M", "karras"), ("DPM++ 2M Karras", None), ("Euler", "sgm_uniform")])
def test_schedule_given_apart_or_in_the_name(engine, sd1_dir, sampler, schedule):
    result = engine.generate(build_request(prompt="a", model=str(sd1_dir), sampler=sampler, schedule=schedule,
                                           steps=2, width=32, height=32, seed=1))
    expected = {"karras": "Karras", None: "Karras", "sgm_uniform": "SGM Uniform"}[schedule]
    assert result.resolved.sampler.endswith(expected)
    assert f"Sampler: {result.resolved.sampler}," in result.images[0].infotext
