"""Progress, cancellation, and broken decodes (NaN / all black) reported instead of saved."""

import threading

import pytest
import torch

from sdlab.engine.engine import Engine
from sdlab.errors import GenerationError
from sdlab.requests import build_request


def request(model, **kw):
    return build_request(**{"prompt": "a red circle", "model": str(model), "steps": 4, "width": 32, "height": 32,
                            "seed": 1, **kw})


def test_progress_reports_every_step_with_its_batch_and_latents(engine, sd1_dir):
    seen = []
    engine.generate(request(sd1_dir, batch_size=2, batch_count=2), progress=seen.append)
    assert [(e.batch, e.images, e.step, e.total) for e in seen] == [
        (b, (2 * b, 2 * b + 1), s, 4) for b in (0, 1) for s in (1, 2, 3, 4)]
    assert seen[0].latents.shape == (2, 4, 16, 16)  # the tiny VAE halves 32 px


def test_cancel_stops_and_returns_the_finished_images(engine, sd1_dir):
    cancel = threading.Event()
    seen = []

    def progress(event):
        seen.append((event.batch, event.step))
        if (event.batch, event.step) == (1, 2):
            cancel.set()

    result = engine.generate(request(sd1_dir, batch_count=3), progress=progress, cancel=cancel)
    assert result.cancelled and [image.seed for image in result.images] == [1]  # batch 0 finished, 1 stopped, 2 never ran
    assert seen == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 1), (1, 2)]


def test_skip_drops_the_current_batch_and_goes_on(engine, sd1_dir):
    skip = threading.Event()

    def progress(event):
        if (event.batch, event.step) == (1, 2):
            skip.set()

    result = engine.generate(request(sd1_dir, batch_count=3), progress=progress, skip=skip)
    assert not result.cancelled and result.skipped == 1 and not skip.is_set()
    assert [image.seed for image in result.images] == [1, 3]
    alone = engine.generate(request(sd1_dir, seed=3)).images[0]
    assert list(result.images[1].image.getdata()) == list(alone.image.getdata())


@pytest.mark.parametrize("breakage, message", [("nan", "NaN"), ("black", "all black")])
def test_broken_decodes_are_reported_with_the_fix(sd1_dir, breakage, message):
    engine = Engine()  # its own copy of the model: this test breaks the weights
    model = engine.load(request(sd1_dir))
    with torch.no_grad():
        conv = model.pipe.vae.decoder.conv_out
        if breakage == "nan":
            conv.weight.fill_(float("nan"))
        else:
            conv.weight.zero_()
            conv.bias.fill_(-10.0)  # decodes to -1 everywhere: black
    with pytest.raises(GenerationError, match=message) as info:
        engine.generate(request(sd1_dir))
    # In fp32 the half-precision overflow is not the cause, so the message does not send the user to --dtype fp32.
    assert "--dtype fp32" not in str(info.value) and "VAE weights" in str(info.value)


def test_memory_options_do_not_change_the_image(engine, sd1_dir):
    import numpy as np

    plain = engine.generate(request(sd1_dir, batch_size=2)).images
    sliced = engine.generate(request(sd1_dir, batch_size=2, attention_slicing=True, vae_slicing=True)).images
    for a, b in zip(plain, sliced):
        assert np.abs(np.asarray(a.image, dtype=int) - np.asarray(b.image, dtype=int)).max() <= 1


def test_cpu_offload_without_cuda_is_a_clear_error(engine, sd1_dir):
    from sdlab.errors import UsageError

    with pytest.raises(UsageError, match="cpu-offload"):
        engine.generate(request(sd1_dir, cpu_offload=True))


def test_threads_share_one_engine_one_request_at_a_time(engine, sd1_dir):
    """Requests from several threads (a server's workers) run one at a time and give what they give alone."""
    import threading

    import numpy as np

    seeds = [1, 2, 3, 4]
    alone = {s: np.asarray(engine.generate(request(sd1_dir, seed=s, sampler="Euler a")).images[0].image) for s in seeds}
    together: dict[int, np.ndarray] = {}

    def run(seed: int) -> None:
        together[seed] = np.asarray(engine.generate(request(sd1_dir, seed=seed, sampler="Euler a")).images[0].image)

    threads = [threading.Thread(target=run, args=(s,)) for s in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(alone[s], together[s]) for s in seeds)


def test_cpu_offload_left_on_by_one_request_is_off_for_the_next(engine):
    model = engine.load(build_request(prompt="a red circle"))
    model.set_cpu_offload(model.pipe, True)  # what a CUDA request with cpu_offload leaves behind
    modules = (model.pipe.unet, model.pipe.vae, model.pipe.text_encoder)
    assert all(hasattr(module, "_hf_hook") for module in modules)
    result = engine.generate(build_request(prompt="a red circle", steps=2, seed=1))
    assert result.images and not any(hasattr(module, "_hf_hook") for module in modules)
    assert not model.cpu_offloaded and model.pipe.unet.device == model.device
