"""The synthetic world: deterministic rendering, captions, and a judge that reads images right."""

import random

import numpy as np
from PIL import Image

from sdlab.world import caption, judge, render, sample_scene
from sdlab.world.palette import ALL_SHAPES, BASE_SHAPES, HELD_OUT


def test_judge_reads_fresh_renders_correctly():
    rng = random.Random(12345)
    scenes = [sample_scene(rng, shapes=ALL_SHAPES, exclude=frozenset()) for _ in range(600)]
    verdicts = [judge(render(s)) for s in scenes]
    full = sum(v.matches(s.colour, s.shape, s.background) for s, v in zip(scenes, verdicts))
    sizes = sum(v.size == s.size for s, v in zip(scenes, verdicts))
    assert full / len(scenes) >= 0.99
    assert sizes / len(scenes) >= 0.97


def test_rendering_is_deterministic_and_held_out_pairs_are_never_sampled():
    a = render(sample_scene(random.Random(7)))
    b = render(sample_scene(random.Random(7)))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    rng = random.Random(0)
    pairs = {(s.colour, s.shape) for s in (sample_scene(rng) for _ in range(2000))}
    assert not pairs & HELD_OUT
    assert {shape for _, shape in pairs} == set(BASE_SHAPES)


def test_captions_name_what_is_drawn():
    scene = sample_scene(random.Random(3))
    assert caption(scene) == f"a {scene.colour} {scene.shape} on a {scene.background} background"
    detailed = {caption(scene, random.Random(i), detail=1.0) for i in range(3)}
    assert detailed == {f"a {scene.size} {scene.colour} {scene.shape} at the {scene.position} on a {scene.background} background"
                        .replace("at the left", "on the left").replace("at the right", "on the right")
                        .replace("at the center", "in the center")}


def test_judge_sees_no_object_on_a_blank_image():
    from PIL import Image

    verdict = judge(Image.new("RGB", (64, 64), (245, 245, 245)))
    assert verdict.background == "white" and verdict.shape is None


def test_two_objects_are_not_a_match():
    from sdlab.world.render import Scene

    left = render(Scene("circle", "red", "white", 16, 32, 8))
    right = render(Scene("circle", "red", "white", 48, 32, 8))
    both = Image.fromarray(np.minimum(np.asarray(left), np.asarray(right)))
    verdict = judge(both)
    assert verdict.objects == 2 and not verdict.matches("red", "circle", "white")
    assert judge(left).matches("red", "circle", "white")
