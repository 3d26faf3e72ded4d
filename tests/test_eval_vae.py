"""The VAE round-trip measure (`sdlab eval vae`) and the VAE-training settings world 2 needed."""

import dataclasses
from types import SimpleNamespace

import torch
from typer.testing import CliRunner

from sdlab.cli.main import app
from sdlab.eval.vae import vae_fidelity
from sdlab.training.base.architecture import build_vae
from sdlab.training.base.config import TINY2
from sdlab.training.base.trainer import object_weights
from sdlab.training.base.worlds import SHAPES2


class FakeVae:
    """Encode is the identity; decode applies `damage`."""

    device, dtype = torch.device("cpu"), torch.float32

    def __init__(self, damage):
        self.damage = damage

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=x))

    def decode(self, z):
        return SimpleNamespace(sample=self.damage(z))


def test_a_lossless_round_trip_keeps_every_scene_and_a_blank_one_none():
    kept = vae_fidelity(FakeVae(lambda z: z), SHAPES2, scenes=24)
    assert kept.rate == 1.0 and sum(kept.scenes.values()) == 24 and set(kept.scenes) <= {1, 2, 3}
    lost = vae_fidelity(FakeVae(torch.zeros_like), SHAPES2, scenes=24)  # all mid-gray: no objects left
    assert lost.rate == 0.0 and len(lost.misses) == 20
    want, got = lost.misses[0]
    assert got == ("gray", ()) and len(want[1]) >= 1


def test_object_weights_weigh_pixels_unlike_the_background():
    images = torch.full((1, 3, 8, 8), -1.0)  # black
    images[0, :, 2:4, 2:4] = 1.0  # a white 2x2 object
    weights = object_weights(images, 20.0)
    assert weights.shape == (1, 1, 8, 8)
    assert weights[0, 0, 2:4, 2:4].eq(21.0).all() and weights.sum().item() == 60 + 4 * 21
    assert object_weights(images, 0.0).eq(1.0).all()  # off: plain MSE, as world 1's recipe trains


def test_initial_logvar_starts_the_posterior_nearly_deterministic():
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    torch.manual_seed(0)
    plain = build_vae(TINY2).encode(x).latent_dist.std.mean().item()
    torch.manual_seed(0)
    sharp = build_vae(dataclasses.replace(TINY2, vae_initial_logvar=-6.0)).encode(x).latent_dist.std.mean().item()
    assert plain > 0.5 and sharp < 0.1


def test_eval_vae_on_the_embedded_model_and_on_a_model_of_no_world(tmp_path):
    import json

    import tiny_models

    done = CliRunner().invoke(app, ["eval", "vae", "--scenes", "16", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["scenes"] == 16 and report["kept"] >= 0.5
    plain = tiny_models.sd1(tmp_path / "plain")
    bad = CliRunner().invoke(app, ["eval", "vae", "--model", str(plain)])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --model:"), bad.output
    zero = CliRunner().invoke(app, ["eval", "vae", "--scenes", "0"])
    assert zero.exit_code == 2 and zero.stderr.startswith("error: --scenes:"), zero.output
