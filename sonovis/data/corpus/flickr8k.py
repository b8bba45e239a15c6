"""Flickr8k in any of its three common layouts, as caption rows with every bad row accounted for.

Copies of Flickr8k circulate in different shapes (the official release, Kaggle's
re-packaging, our shared copy), so the reader detects the layout instead of asking
for one. Bad rows never stop a run: each becomes a ``Skip`` naming file and line,
so a user can see exactly what was left out and why.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from sonovis.config import SPLITS
from sonovis.data.corpus.checks import csv_fields, decoded_lines, id_problem, is_file
from sonovis.data.corpus.rows import CaptionRow, Corpus, Skip
from sonovis.errors import InputError

LAYOUTS = (
    "expected one of: Images/ + captions.txt (Kaggle); images/ + captions.txt [+ splits/{train,dev,test}.txt]; "
    "Flicker8k_Dataset/ + Flickr8k.token.txt [+ Flickr_8k.{train,dev,test}Images.txt] (official)"
)
OFFICIAL_SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "dev": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
FULL_HELD_OUT = 1000  # dev and test images each, as in the official 6000/1000/1000 split


@dataclass(frozen=True)
class _Caption:
    """A well-formed caption line, before its image and split are checked."""

    image_id: str
    caption: str
    index: int
    line: int


@dataclass(frozen=True)
class _Layout:
    captions_file: Path
    image_dir: Path
    split_files: dict[str, Path]  # only the split files that exist
    parse: Callable[[Path, list[Skip]], list[_Caption]]


def read_flickr8k(root: Path, seed: int = 0, verify_images: bool = True,
                  splits: tuple[str, ...] = SPLITS, limit_images: int = 0) -> Corpus:
    """All captions of the usable images in ``splits`` (the first ``limit_images`` per split, if set).

    Split files are used when present; otherwise images are split by ``seed``
    (see ``seeded_split``). ``verify_images`` decodes every selected image once, so a
    broken file is reported here rather than crashing feature extraction later; images
    outside the selection are not decoded, so a small ``--limit`` run starts at once.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise InputError(f"{root}: Flickr8k folder not found; {LAYOUTS}")
    layout = _find_layout(root)
    skipped: list[Skip] = []
    captions = layout.parse(layout.captions_file, skipped)
    source = str(layout.captions_file)

    split_of: dict[str, str] | None = None
    if layout.split_files:
        split_of = _read_split_files(layout.split_files, {c.image_id for c in captions}, skipped)
        outside = [c for c in captions if c.image_id not in split_of]
        skipped += [Skip(source, c.line, f"{c.image_id} is in no split file") for c in outside]
        captions = [c for c in captions if c.image_id in split_of]

    captions = _drop_bad_images(captions, layout.image_dir, source, skipped, decode=False)
    if split_of is None:
        split_of = seeded_split({c.image_id for c in captions}, seed)
    selected = Corpus.first_images({(split_of[c.image_id], c.image_id) for c in captions}, splits, limit_images)
    captions = [c for c in captions if (split_of[c.image_id], c.image_id) in selected]
    captions = _drop_bad_images(captions, layout.image_dir, source, skipped, decode=verify_images)

    rows = [
        CaptionRow(c.image_id, str(layout.image_dir / c.image_id), c.caption, split_of[c.image_id], c.index,
                   source=source, line=c.line)
        for c in captions
    ]
    return Corpus(rows=rows, skipped=skipped)


def _drop_bad_images(captions: list[_Caption], image_dir: Path, source: str, skipped: list[Skip],
                     decode: bool) -> list[_Caption]:
    """Captions whose image is usable; the others become skips naming the caption line."""
    problems = {i: image_problem(image_dir / i, decode) for i in sorted({c.image_id for c in captions})}
    skipped += [Skip(source, c.line, problems[c.image_id]) for c in captions if problems[c.image_id]]
    return [c for c in captions if not problems[c.image_id]]


def seeded_split(image_ids: set[str], seed: int) -> dict[str, str]:
    """Image -> split when no split files exist: 6000/1000/1000 of the full 8,000 images.

    Fewer images keep the same 75/12.5/12.5 % proportions; more (Kaggle ships 8,091)
    go to train. Splitting by image keeps all captions of a photo on one side.
    """
    ids = sorted(image_ids)
    random.Random(seed).shuffle(ids)
    held = min(FULL_HELD_OUT, round(len(ids) / 8))
    return {image: "dev" if k < held else "test" if k < 2 * held else "train" for k, image in enumerate(ids)}


def image_problem(path: Path, decode: bool = True) -> str | None:
    """Why ``path`` is not a usable image, or None.

    JPEGs are decoded at 1/8 scale: every byte is still read, so a truncated file
    shows (PIL's ``verify`` misses it), yet 8,000 photos take a few seconds.
    """
    if not is_file(path):
        return f"image file not found: {path}"
    if not decode:
        return None
    try:
        with Image.open(path) as image:
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return f"undecodable image {path.name}: {err}"
    return None


def _find_layout(root: Path) -> _Layout:
    for text_dir in (root, root / "Flickr8k_text"):
        token_file = text_dir / "Flickr8k.token.txt"
        if token_file.is_file():
            splits = {s: text_dir / name for s, name in OFFICIAL_SPLIT_FILES.items()}
            return _Layout(
                token_file,
                _image_dir(root, ("Flicker8k_Dataset", "Flickr8k_Dataset")),
                {s: p for s, p in splits.items() if p.is_file()},
                _parse_token_file,
            )
    captions_file = root / "captions.txt"
    if not captions_file.is_file():
        raise InputError(f"{root}: no captions.txt or Flickr8k.token.txt; {LAYOUTS}")
    splits = {s: root / "splits" / f"{s}.txt" for s in SPLITS}
    return _Layout(
        captions_file,
        _image_dir(root, ("Images", "images")),
        {s: p for s, p in splits.items() if p.is_file()},
        _parse_kaggle_file,
    )


def _image_dir(root: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise InputError(f"{root}: no image folder ({' or '.join(names)}); {LAYOUTS}")


def _parse_kaggle_file(path: Path, skipped: list[Skip]) -> list[_Caption]:
    """``image,caption`` CSV, one row a line; a caption's number is its order among its image's rows.

    Each line is parsed alone, so a stray quote costs its own line rather than swallowing the rest.
    """
    parsed: list[tuple[int, str, str]] = []
    lines = decoded_lines(path, skipped)
    first = next(lines, None)
    header = csv_fields(first[1]) if first else None
    if first is None or first[0] != 1 or [h.strip().lower() for h in header or []] != ["image", "caption"]:
        got = header if first and first[0] == 1 else "no readable first line"
        raise InputError(f"{path}:1: expected the header 'image,caption', got {got}; {LAYOUTS}")
    for line, text in lines:
        if not text.strip():
            continue
        fields = csv_fields(text)
        if fields is None:
            skipped.append(Skip(str(path), line, "malformed row: bad CSV quoting"))
        elif len(fields) != 2 or not fields[0].strip():
            count = len(fields)
            skipped.append(Skip(str(path), line, f"malformed row: expected 2 fields image,caption, got {count}"))
        else:
            parsed.append((line, fields[0].strip(), fields[1]))
    count: Counter[str] = Counter()
    numbered = []
    for line, image_id, caption in parsed:
        numbered.append((line, image_id, count[image_id], caption))
        count[image_id] += 1
    return _accept(path, numbered, skipped)


def _parse_token_file(path: Path, skipped: list[Skip]) -> list[_Caption]:
    """Official ``<image>#<n><TAB><caption>`` lines; the caption number is the ``#n``."""
    numbered = []
    for line, text in decoded_lines(path, skipped):
        if not text.strip():
            continue
        key, tab, caption = text.partition("\t")
        image_id, hash_sign, number = key.strip().rpartition("#")
        if not tab or not hash_sign or not image_id or not number.isascii() or not number.isdigit():
            skipped.append(Skip(str(path), line, "malformed line: expected '<image>#<n><TAB><caption>'"))
            continue
        numbered.append((line, image_id, int(number), caption))
    return _accept(path, numbered, skipped)


def _accept(path: Path, numbered: list[tuple[int, str, int, str]], skipped: list[Skip]) -> list[_Caption]:
    """Drop unsafe image names, empty captions and repeats, which would only duplicate utterances."""
    captions = []
    texts: set[tuple[str, str]] = set()
    numbers: set[tuple[str, int]] = set()
    for line, image_id, index, caption in numbered:
        caption = caption.strip()
        if problem := id_problem(image_id):
            reason = f"image name: {problem}"
        elif not caption:
            reason = "empty caption"
        elif (image_id, caption) in texts:
            reason = f"duplicate row: {image_id} already has the caption {caption!r}"
        elif (image_id, index) in numbers:
            reason = f"duplicate caption number: {image_id}#{index} appears twice"
        else:
            texts.add((image_id, caption))
            numbers.add((image_id, index))
            captions.append(_Caption(image_id, caption, index, line))
            continue
        skipped.append(Skip(str(path), line, reason))
    return captions


def _read_split_files(files: dict[str, Path], known: set[str], skipped: list[Skip]) -> dict[str, str]:
    split_of: dict[str, str] = {}
    for split, path in files.items():
        for line, text in decoded_lines(path, skipped):
            image_id = text.strip()
            if not image_id:
                continue
            if image_id not in known:
                skipped.append(Skip(str(path), line, f"unknown image {image_id}: it has no captions"))
            elif image_id in split_of:
                skipped.append(Skip(str(path), line, f"{image_id} is already in the {split_of[image_id]} split"))
            else:
                split_of[image_id] = split
    return split_of
