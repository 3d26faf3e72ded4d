"""The synthetic world sdlab's embedded model is trained on: renderer, captions, judge."""

from sdlab.world.judge import Verdict, judge
from sdlab.world.render import Scene, caption, render, sample_scene

#: The name a model's sdlab.json gives as its "world" when it draws this world (the judge can score it).
WORLD = "shapes"

__all__ = ["WORLD", "Scene", "Verdict", "caption", "judge", "render", "sample_scene"]
