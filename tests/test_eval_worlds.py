"""The demo's prompts and how it judges them, per world (the embedded model's own run is `make demo`)."""

from PIL import Image

from sdlab.eval.worlds.shapes2 import DEMO as DEMO_PROMPTS2, demo_verdict as _row2
from sdlab.world2 import Scene, Thing, parse, render
from sdlab.world2.palette import IMAGE_SIZE, POSITIONS


def scene_of(prompt: str) -> Scene:
    """The scene a world-2 prompt asks for, drawn exactly (each object centred in its ninth, or in a free one)."""
    wanted = parse(prompt)
    free = [p for p in POSITIONS if p not in {w.position for w in wanted.objects}]
    things = []
    for w in wanted.objects:
        row, col = divmod(POSITIONS.index(w.position or free.pop(0)), 3)
        third = IMAGE_SIZE / 3
        things.append(Thing(w.shape, w.colour, (col + 0.5) * third, (row + 0.5) * third, 18.0 if w.size == "large" else 10.0))
    return Scene(tuple(things), wanted.background)


def test_world_two_demo_prompts_parse_show_positions_and_several_objects_and_are_judged():
    counts = [len(parse(p).objects) for p in DEMO_PROMPTS2]
    assert {1, 2, 3} <= set(counts)
    assert sum(any(w.position for w in parse(p).objects) for p in DEMO_PROMPTS2) >= 4
    rows = [_row2(p, render(scene_of(p))) for p in DEMO_PROMPTS2]
    assert all(r.correct for r in rows), [r.seen for r in rows if not r.correct]
    assert [r.held_out for r in rows][-2:] == [True, True] and not any(r.held_out for r in rows[:-2])
    blank = _row2(DEMO_PROMPTS2[0], Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (255, 255, 255)))
    assert not blank.correct and blank.seen == "nothing on white"


def test_every_world_judges_its_own_exercise_inputs_and_prompts():
    import random

    import numpy as np

    from sdlab.eval.worlds import judged_worlds

    for world in judged_worlds().values():
        source = world.strength_input()
        assert source.size == (world.image_size,) * 2
        assert world.prompt_check(world.strength_prompt)(source)  # the default input is what its prompt says
        assert world.prompt_check("a lighthouse at dusk") is None  # a prompt the judge cannot read is not scored
        assert world.guidance_variants[0] in world.guidance_prompt
        rng = random.Random(3)
        for _ in range(20):
            case = world.inpaint_case(rng)
            assert not case.check(case.source)  # the prompt asks for a change
            left, top, right, bottom = (max(0, v) for v in case.box)  # a box may reach past the edge
            painted = np.asarray(case.source)
            inside, outside = painted[top:bottom, left:right], painted.copy()
            outside[top:bottom, left:right] = painted[0, 0]  # what is left once the boxed object is gone
            assert len({tuple(p) for p in inside.reshape(-1, 3)}) > 1  # an object is under the box
            if world.name == "shapes2":  # the other object stays whole, outside the box
                from sdlab.world2 import judge

                assert len(judge(Image.fromarray(outside)).objects) == 1
