"""Progress, cancellation, and broken decodes (NaN / all black) reported instead of saved."""

import threading

import pytest
import torch

from sdlab.engine.engine import Engine
from sdlab.errors import GenerationCancelled, GenerationError
from sdlab.requests import build_request


def request(model, **kw):
    return build_request(**{"prompt": "a red circle", "model": str(model), "steps": 4, "width": 32, "height": 32,
                            "seed": 1, **kw})


def test_progress_reports_every_step(engine, sd1_dir):
    seen = []
    engine.generate(request(sd1_dir), progress=lambda step, total: seen.append((step, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cancel_stops_and_returns_nothing(engine, sd1_dir):
    cancel = threading.Event()
    seen = []

    def progress(step, total):
        seen.append(step)
        if step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        engine.generate(request(sd1_dir), progress=progress, cancel=cancel)
    assert seen == [1, 2]


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
