"""World 2's captions: one grammar, written by `caption` and read back by `parse` (and so by the judge).

    caption := objects " on a " BACKGROUND " background"
    objects := object | object " and " object | object ", " object " and " object
    object  := ARTICLE [SIZE " "] COLOUR " " SHAPE [" " POSITION]
    ARTICLE := "a" | "an" (before a vowel: "an orange circle", "a large orange circle")
    SIZE := small | large;  POSITION := at the top left | at the top | at the top right | at the left |
            in the center | at the right | at the bottom left | at the bottom | at the bottom right

e.g. "a red circle at the top left and a blue square at the bottom right on a white background".
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from sdlab.world2.palette import ALL_SHAPES, BACKGROUND_COLOURS, OBJECT_COLOURS, POSITION_PHRASES, SIZES
from sdlab.world2.scenes import Scene

_PHRASE_TO_POSITION = {phrase: position for position, phrase in POSITION_PHRASES.items()}
_OBJECT = re.compile(
    rf"^an? (?:(?P<size>{'|'.join(SIZES)}) )?(?P<colour>{'|'.join(OBJECT_COLOURS)}) (?P<shape>{'|'.join(ALL_SHAPES)})"
    rf"(?: (?P<position>{'|'.join(sorted(_PHRASE_TO_POSITION, key=len, reverse=True))}))?$")
_CAPTION = re.compile(rf"^(?P<objects>.+) on a (?P<background>{'|'.join(BACKGROUND_COLOURS)}) background$")


@dataclass(frozen=True)
class Wanted:
    """One object a caption asks for; size and position are None when the caption does not say."""

    colour: str
    shape: str
    size: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class Caption:
    objects: tuple[Wanted, ...]
    background: str


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def object_phrase(wanted: Wanted) -> str:
    words = [w for w in (wanted.size, wanted.colour, wanted.shape) if w]
    text = f"{article(words[0])} {' '.join(words)}"
    return f"{text} {POSITION_PHRASES[wanted.position]}" if wanted.position else text


def write(wanted: Caption) -> str:
    """The caption text of `wanted`, in the grammar above."""
    phrases = [object_phrase(o) for o in wanted.objects]
    objects = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{objects} on a {wanted.background} background"


def caption(scene: Scene, rng: random.Random | None = None, detail: float = 0.5) -> str:
    """Caption `scene`; with `rng`, each object's size and position words appear with probability `detail`
    (without, the caption names colours and shapes only)."""
    objects = tuple(Wanted(t.colour, t.shape, t.size if rng is not None and rng.random() < detail else None,
                           t.position if rng is not None and rng.random() < detail else None) for t in scene.things)
    return write(Caption(objects, scene.background))


def parse(text: str) -> Caption:
    """A caption in the grammar above as what it asks for; ValueError naming what does not parse."""
    match = _CAPTION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} does not end with 'on a BACKGROUND background' ({', '.join(BACKGROUND_COLOURS)})")
    body = match["objects"]
    head, _, last = body.rpartition(" and ")
    parts = ([p.strip() for p in head.split(", ")] + [last.strip()]) if head else [body.strip()]
    objects = []
    for part in parts:
        found = _OBJECT.match(part)
        if found is None:
            raise ValueError(f"{part!r} is not 'a [small|large] COLOUR SHAPE [POSITION]'")
        if found[0].split()[0] != article(found[0].split()[1]):
            raise ValueError(f"{part!r}: the article should be {article(found[0].split()[1])!r}")
        position = _PHRASE_TO_POSITION[found["position"]] if found["position"] else None
        objects.append(Wanted(found["colour"], found["shape"], found["size"], position))
    return Caption(tuple(objects), match["background"])
