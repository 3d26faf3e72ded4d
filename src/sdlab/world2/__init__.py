"""World 2, the synthetic world of sdlab-shapes 2: one to three objects, nine positions, at 128x128.

`scenes` draws, `captions` writes and reads the one caption grammar, `judge` says what an image holds and
whether a caption holds for it.
"""

from sdlab.world2.captions import Caption, Wanted, caption, parse, write
from sdlab.world2.judge import Verdict, judge
from sdlab.world2.scenes import Scene, Thing, render, sample_scene

#: The name a model's sdlab.json gives as its "world" when it draws this world.
WORLD = "shapes2"

__all__ = ["WORLD", "Caption", "Scene", "Thing", "Verdict", "Wanted", "caption", "judge", "parse", "render",
           "sample_scene", "write"]
