"""World 2: scenes of one to three objects at 128x128, one caption grammar read back exactly, and a judge
that reads every rendered scene as its caption says."""

from __future__ import annotations

import random

import pytest

from sdlab.world2 import Caption, Wanted, caption, judge, parse, render, sample_scene, write
from sdlab.world2.palette import ALL_SHAPES, HELD_OUT_PAIRS, HELD_OUT_PLACES, IMAGE_SIZE
from sdlab.world2.scenes import Scene, Thing


def test_the_judge_reads_every_rendered_scene_as_its_full_caption_says():
    rng = random.Random(11)
    for index in range(600):
        scene = sample_scene(rng, shapes=ALL_SHAPES if index % 2 else ("circle", "square", "triangle"))
        image = render(scene)
        assert image.size == (IMAGE_SIZE, IMAGE_SIZE)
        text = caption(scene, rng, detail=1.0)  # every size and position said
        verdict = judge(image)
        assert verdict.matches(text), (text, verdict)
        assert len(verdict.objects) == len(scene.things) and verdict.stray_pixels <= 3  # a star tip's lone pixel


def test_captions_are_english_and_read_back_exactly():
    assert write(Caption((Wanted("orange", "circle"),), "white")) == "an orange circle on a white background"
    assert write(Caption((Wanted("orange", "circle", "large", "top left"), Wanted("blue", "square", None, "right")),
                         "pink")) == "a large orange circle at the top left and a blue square at the right on a pink background"
    three = "a red circle, an orange heart in the center and a small blue star on a black background"
    assert write(parse(three)) == three and len(parse(three).objects) == 3
    rng = random.Random(3)
    for _ in range(300):
        text = caption(sample_scene(rng, shapes=ALL_SHAPES), rng, detail=0.5)
        assert write(parse(text)) == text


@pytest.mark.parametrize("text", [
    "a orange circle on a white background",  # wrong article
    "an red circle on a white background",
    "a red hexagon on a white background",
    "a red circle on a green background",
    "a red circle",
    "a red circle at the middle on a white background",
    "a red circle and on a white background",
])
def test_text_outside_the_grammar_is_refused(text):
    with pytest.raises(ValueError):
        parse(text)


def test_held_out_pairs_and_places_never_appear():
    rng = random.Random(5)
    for _ in range(2000):
        for thing in sample_scene(rng).things:
            assert (thing.colour, thing.shape) not in HELD_OUT_PAIRS
            assert (thing.shape, thing.position) not in HELD_OUT_PLACES


def test_a_verdict_holds_only_for_exactly_what_was_asked():
    scene = Scene((Thing("circle", "red", 20, 20, 16), Thing("square", "blue", 108, 108, 10)), "white")
    verdict = judge(render(scene))
    assert verdict.matches("a large red circle at the top left and a small blue square at the bottom right on a white background")
    assert verdict.matches("a blue square and a red circle on a white background")  # order does not matter
    assert not verdict.matches("a red circle at the top right and a blue square on a white background")
    assert not verdict.matches("a red circle on a white background")  # one object too few
    assert not verdict.matches("a small red circle and a blue square on a white background")
    assert not verdict.matches("a red circle and a blue square on a black background")


def test_adherence_prompts_keep_trained_and_held_out_apart():
    from sdlab.eval.adherence2 import KINDS, prompts

    for kind in KINDS:
        for held_out in (False, True):
            texts = prompts(kind, held_out)
            assert len(set(texts)) == len(texts) >= 12
            for text in texts:
                wanted = parse(text).objects
                assert len(wanted) == {"single": 1, "position": 1, "two": 2, "three": 3}[kind]
                pairs = {(w.colour, w.shape) for w in wanted}
                places = {(w.shape, w.position) for w in wanted if w.position}
                if kind == "position":
                    assert bool(places & HELD_OUT_PLACES) == held_out and not pairs & HELD_OUT_PAIRS
                else:
                    assert bool(pairs & HELD_OUT_PAIRS) == held_out and not places & HELD_OUT_PLACES
