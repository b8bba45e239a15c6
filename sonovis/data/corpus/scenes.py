"""The built-in corpus: rendered scenes of coloured shapes with varied captions, no download.

It lets every machine make a corpus offline in seconds, yet retrieval on it is not
trivial: scenes hold 2-3 objects drawn from 8 colours, 7 shapes, 2 sizes, 9 areas
and 6 backgrounds, so only 84 colour sets exist and a colour-only guess finds the
right image among 1,000 about 1 time in 12. Captions vary synonyms, word order and
relation phrasing, so a model has to listen to what is said, not to a template.
Everything is a pure function of (seed, split, index): re-runs reproduce the same bytes.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from sonovis.config import SPLITS
from sonovis.data.corpus.rows import CaptionRow, Corpus
from sonovis.errors import ConfigError

IMAGE_SIZE = 224
CELL = IMAGE_SIZE / 3  # objects sit in distinct cells of a 3x3 grid, so they never overlap
CAPTIONS_PER_IMAGE = 5

COLOURS = {
    "red": (215, 40, 40), "orange": (245, 140, 25), "yellow": (245, 220, 45), "green": (45, 165, 60),
    "blue": (40, 90, 220), "purple": (135, 60, 190), "pink": (250, 135, 195), "white": (245, 245, 245),
}
SHAPES = {
    "circle": ("circle", "ball", "disc", "dot"), "square": ("square", "box", "block"),
    "triangle": ("triangle",), "star": ("star",), "ring": ("ring", "hoop"),
    "diamond": ("diamond", "rhombus"), "cross": ("cross", "plus sign"),
}
SIZES = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
RADIUS = {"small": (12.0, 15.0), "large": (23.0, 27.0)}  # pixels, drawn uniformly per object
BACKGROUNDS = {
    "grey": ("on a grey background", "against a grey wall"),
    "dark": ("on a dark background", "on a black background"),
    "sand": ("on sand", "on a sandy background"),
    "striped": ("on a striped background", "over stripes"),
    "checked": ("on a checkered background", "on a chequered board"),
    "grass and sky": ("on grass under the sky", "in a field under the sky"),
}
AREAS = {
    (0, 0): ("in the top left corner", "at the top left"), (0, 1): ("at the top", "near the top"),
    (0, 2): ("in the top right corner", "at the top right"), (1, 0): ("on the left", "at the left side"),
    (1, 1): ("in the centre", "in the middle"), (1, 2): ("on the right", "at the right side"),
    (2, 0): ("in the bottom left corner", "at the bottom left"), (2, 1): ("at the bottom", "near the bottom"),
    (2, 2): ("in the bottom right corner", "at the bottom right"),
}
RELATIONS = {
    "left of": ("to the left of", "left of", "on the left of"),
    "right of": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath"),
}
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
COUNT_WORDS = {2: ("two", "a pair of"), 3: ("three",)}
OUTLINE = (15, 15, 15)


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    size: str  # small | large
    cell: tuple[int, int]  # (row, column) in the 3x3 grid: the area a caption names
    centre: tuple[float, float]  # exact pixel centre, jittered inside the cell
    radius: float  # pixels, jittered inside the size class
    angle: float  # degrees of a slight turn, so equal descriptions give different pixels
    rgb: tuple[int, int, int]  # the named colour with a little shade jitter


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[SceneObject, ...]
    relations: tuple[tuple[int, str, int], ...]  # (i, "left of", j): object i is left of object j
    shade: int  # background brightness jitter
    offset: int  # background texture phase, in pixels


def make_scene(seed: int, split: str, index: int) -> Scene:
    """The scene at ``index`` of ``split``; the same arguments always give the same scene."""
    rng = random.Random(f"scene/{seed}/{split}/{index}")
    count = rng.choice((2, 3))
    cells = rng.sample(sorted(AREAS), count)
    colours = rng.sample(sorted(COLOURS), count)
    objects = tuple(_make_object(rng, colour, cell) for colour, cell in zip(colours, cells))
    relations = tuple(
        (i, _relation(a.cell, b.cell), j) for i, a in enumerate(objects) for j, b in enumerate(objects) if i != j
    )
    return Scene(rng.choice(sorted(BACKGROUNDS)), objects, relations, rng.randint(-12, 12), rng.randrange(16))


def _make_object(rng: random.Random, colour: str, cell: tuple[int, int]) -> SceneObject:
    size = rng.choice(sorted(SIZES))
    radius = rng.uniform(*RADIUS[size])
    slack = CELL / 2 - radius * 1.2 - 2  # the widest shape reaches 1.2 radii from its centre
    centre = ((cell[1] + 0.5) * CELL + rng.uniform(-slack, slack), (cell[0] + 0.5) * CELL + rng.uniform(-slack, slack))
    rgb = tuple(min(255, max(0, c + rng.randint(-15, 15))) for c in COLOURS[colour])
    return SceneObject(colour, rng.choice(sorted(SHAPES)), size, cell, centre, radius, rng.uniform(-12, 12), rgb)


def _relation(a: tuple[int, int], b: tuple[int, int]) -> str:
    """Where cell ``a`` is relative to cell ``b``, along the axis that separates them most."""
    rows, cols = a[0] - b[0], a[1] - b[1]
    if abs(cols) >= abs(rows):
        return "left of" if cols < 0 else "right of"
    return "above" if rows < 0 else "below"


# --- captions --------------------------------------------------------------------------------


def describe(scene: Scene, rng: random.Random) -> str:
    """One caption of ``scene``, wording drawn from ``rng``; every colour and shape it names is in the scene."""
    style = rng.randrange(5)
    objects = scene.objects
    i, j = rng.sample(range(len(objects)), 2)
    rest = [k for k in range(len(objects)) if k not in (i, j)]
    background = rng.choice(BACKGROUNDS[scene.background])
    if style == 0:  # "a big red ball to the left of a blue box, and a green star at the bottom"
        text = f"{_noun(objects[i], rng, 'a')} {_relation_words(scene, i, j, rng)} {_noun(objects[j], rng, 'a')}"
        text += "".join(f" and {_noun(objects[k], rng, 'a')} {rng.choice(AREAS[objects[k].cell])}" for k in rest)
    elif style == 1:  # "the blue box is under the red ball"
        text = f"{_noun(objects[i], rng, 'the')} is {_relation_words(scene, i, j, rng)} {_noun(objects[j], rng, 'the')}"
        if rng.random() < 0.5:
            text += f" {background}"
    elif style == 2:  # "a red circle in the top left corner and a small blue square at the bottom"
        parts = [f"{_noun(o, rng, 'a')} {rng.choice(AREAS[o.cell])}" for o in rng.sample(objects, len(objects))]
        text = _join(parts)
    elif style == 3:  # "three shapes on sand: a red ball, a blue box and a green star"
        count = rng.choice(COUNT_WORDS[len(objects)])
        nouns = _join([_noun(o, rng, "a") for o in rng.sample(objects, len(objects))])
        text = f"{count} shapes {background}: {nouns}"
    else:  # "on a striped background there is a red ball above a purple ring"
        lead = rng.choice(("there is", "you can see", "we see"))
        relation = _relation_words(scene, i, j, rng)
        text = f"{background} {lead} {_noun(objects[i], rng, 'a')} {relation} {_noun(objects[j], rng, 'a')}"
    return text[0].upper() + text[1:]


def _noun(obj: SceneObject, rng: random.Random, article: str) -> str:
    """'a big red ball', 'an orange box', 'the ring': size is said only sometimes."""
    words = [rng.choice(SIZES[obj.size])] if rng.random() < 0.5 else []
    words += [obj.colour, rng.choice(SHAPES[obj.shape])]
    if article == "a" and words[0][0] in "aeiou":
        article = "an"
    return " ".join([article, *words])


def _relation_words(scene: Scene, i: int, j: int, rng: random.Random) -> str:
    relation = next(r for a, r, b in scene.relations if (a, b) == (i, j))
    a, b = scene.objects[i].cell, scene.objects[j].cell
    beside = a[0] == b[0] and abs(a[1] - b[1]) == 1
    if beside and rng.random() < 0.3:
        return rng.choice(("next to", "beside"))
    return rng.choice(RELATIONS[relation])


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --- pixels ----------------------------------------------------------------------------------


def render(scene: Scene) -> Image.Image:
    """The scene as a 224x224 RGB image; black outlines keep every colour visible on every background."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE))
    draw = ImageDraw.Draw(image)
    _paint_background(draw, scene)
    for obj in scene.objects:
        _draw_object(draw, obj)
    return image


def _paint_background(draw: ImageDraw.ImageDraw, scene: Scene) -> None:
    def tone(r: int, g: int, b: int) -> tuple[int, int, int]:
        return tuple(min(255, max(0, c + scene.shade)) for c in (r, g, b))

    full = (0, 0, IMAGE_SIZE, IMAGE_SIZE)
    if scene.background == "grass and sky":
        horizon = 100 + scene.offset
        draw.rectangle((0, 0, IMAGE_SIZE, horizon), fill=tone(140, 190, 230))
        draw.rectangle((0, horizon, IMAGE_SIZE, IMAGE_SIZE), fill=tone(70, 140, 60))
    elif scene.background == "striped":
        draw.rectangle(full, fill=tone(105, 105, 115))
        for y in range(scene.offset - 16, IMAGE_SIZE, 16):
            draw.rectangle((0, y, IMAGE_SIZE, y + 7), fill=tone(155, 155, 165))
    elif scene.background == "checked":
        draw.rectangle(full, fill=tone(95, 95, 95))
        for row in range(-1, IMAGE_SIZE // 28 + 1):
            for col in range(-1, IMAGE_SIZE // 28 + 1):
                if (row + col) % 2:
                    x, y = col * 28 + scene.offset, row * 28 + scene.offset
                    draw.rectangle((x, y, x + 27, y + 27), fill=tone(160, 160, 160))
    else:
        plain = {"grey": (125, 125, 125), "dark": (35, 38, 48), "sand": (200, 180, 130)}[scene.background]
        draw.rectangle(full, fill=tone(*plain))


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject) -> None:
    (x, y), r = obj.centre, obj.radius
    if obj.shape in ("circle", "ring"):
        box = (x - r, y - r, x + r, y + r)
        if obj.shape == "circle":
            draw.ellipse(box, fill=obj.rgb, outline=OUTLINE, width=2)
        else:
            draw.ellipse(box, outline=obj.rgb, width=max(4, round(0.4 * r)))
            draw.ellipse(box, outline=OUTLINE, width=2)
            inner = 0.6 * r
            draw.ellipse((x - inner, y - inner, x + inner, y + inner), outline=OUTLINE, width=2)
        return
    turn = math.radians(obj.angle)
    points = [
        (x + r * (px * math.cos(turn) - py * math.sin(turn)), y + r * (px * math.sin(turn) + py * math.cos(turn)))
        for px, py in _UNIT_POLYGONS[obj.shape]
    ]
    draw.polygon(points, fill=obj.rgb, outline=OUTLINE, width=2)


def _polar(*points: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    """(radius, degrees) -> (x, y), degrees measured clockwise from straight up."""
    return tuple((r * math.sin(math.radians(a)), -r * math.cos(math.radians(a))) for r, a in points)


_ARM = 0.33  # half-width of a cross's arms, in radii
_UNIT_POLYGONS = {
    "square": ((-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)),
    "triangle": _polar((1.15, 0), (1.15, 120), (1.15, 240)),
    "diamond": _polar((1.2, 0), (0.75, 90), (1.2, 180), (0.75, 270)),
    "star": _polar(*[(1.2 if k % 2 == 0 else 0.5, 36 * k) for k in range(10)]),
    "cross": (
        (_ARM, -1.1), (_ARM, -_ARM), (1.1, -_ARM), (1.1, _ARM), (_ARM, _ARM), (_ARM, 1.1),
        (-_ARM, 1.1), (-_ARM, _ARM), (-1.1, _ARM), (-1.1, -_ARM), (-_ARM, -_ARM), (-_ARM, -1.1),
    ),
}


# --- the corpus ------------------------------------------------------------------------------


def build_scenes(
    root: Path,
    counts: tuple[int, int, int] = (1000, 200, 200),
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "dev"),
) -> Corpus:
    """Render (or reuse) ``counts`` train/dev/test scenes under ``root/images``, five distinct captions each.

    File names carry the seed, so a different seed never reuses another seed's images.
    """
    image_dir = Path(root).expanduser().resolve() / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for split in splits:
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; expected some of {SPLITS}")
        for index in range(counts[SPLITS.index(split)]):
            scene = make_scene(seed, split, index)
            path = image_dir / f"s{seed}_{split}_{index:05d}.png"
            if not path.exists():
                _save(render(scene), path)
            captions = _distinct_captions(scene, random.Random(f"captions/{seed}/{split}/{index}"))
            rows += [CaptionRow(path.name, str(path), text, split, k) for k, text in enumerate(captions)]
    return Corpus(rows=rows)


def _distinct_captions(scene: Scene, rng: random.Random) -> list[str]:
    captions: list[str] = []
    while len(captions) < CAPTIONS_PER_IMAGE:
        text = describe(scene, rng)
        if text not in captions:
            captions.append(text)
    return captions


def _save(image: Image.Image, path: Path) -> None:
    """Write then rename, so an interrupted run never leaves a half-written PNG to be reused."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    image.save(partial, format="PNG")
    os.replace(partial, path)
