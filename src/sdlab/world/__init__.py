"""The synthetic world sdlab's embedded model is trained on: renderer, captions, judge."""

from sdlab.world.judge import Verdict, judge
from sdlab.world.render import Scene, caption, render, sample_scene

__all__ = ["Scene", "Verdict", "caption", "judge", "render", "sample_scene"]
