"""The user's own spoken captions: a simple CSV, or the Flickr Audio Caption Corpus (FACC).

Real speech is what the model is ultimately for, so recordings enter as ordinary
caption rows that also carry ``audio_path``; the rest of the pipeline then skips
synthesis for them. As with every reader, a bad row is a ``Skip`` with file and line.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from pathlib import Path

from sonovis.config import SPLITS
from sonovis.data.corpus.checks import csv_fields, decoded_lines, id_problem, is_file
from sonovis.data.corpus.flickr8k import image_problem, read_flickr8k
from sonovis.data.corpus.rows import CaptionRow, Corpus, Skip
from sonovis.errors import InputError

CSV_COLUMNS = ("audio", "image", "caption", "split")


def read_recordings_csv(csv_path: Path) -> Corpus:
    """Rows of ``audio,image,caption,split``, one a line; paths are relative to the CSV's folder.

    ``image_id`` is the image path inside that folder with its separators escaped
    (``photos/1.jpg`` -> ``photos%2F1.jpg``), so two photos called ``1.jpg`` in different
    sub-folders stay distinct while every id stays one safe file name. A caption's number is
    its order among its image's rows.
    """
    csv_path = Path(csv_path).expanduser().resolve()
    rows_reader = _CsvRows(csv_path)
    lines = decoded_lines(csv_path, rows_reader.skipped)
    first = next(lines, None)
    header = [h.strip().lower() for h in csv_fields(first[1]) or []] if first and first[0] == 1 else []
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        expected = ",".join(CSV_COLUMNS)
        raise InputError(f"{csv_path}:1: missing column(s) {', '.join(missing)}; expected the header {expected}")
    for line, text in lines:
        if not text.strip():
            continue
        fields = csv_fields(text)
        if fields is None:
            rows_reader.skipped.append(Skip(str(csv_path), line, "malformed row: bad CSV quoting"))
        elif len(fields) > len(header):
            reason = f"malformed row: {len(fields)} fields for {len(header)} columns"
            rows_reader.skipped.append(Skip(str(csv_path), line, reason))
        else:
            rows_reader.add(dict(zip(header, fields)), line)
    return Corpus(rows=rows_reader.rows, skipped=rows_reader.skipped)


class _CsvRows:
    """What the CSV rows seen so far settle: each image's split, used audio, caption numbers."""

    def __init__(self, csv_path: Path) -> None:
        self.source, self.folder = str(csv_path), csv_path.parent
        self.rows: list[CaptionRow] = []
        self.skipped: list[Skip] = []
        self.split_of: dict[str, tuple[str, int]] = {}  # image id -> (split, line that set it)
        self.audio_line: dict[Path, int] = {}  # the file each used audio path ends at (links followed) -> its line
        self.image_problems: dict[Path, str | None] = {}  # each image is decoded once
        self.count: Counter[str] = Counter()

    def add(self, record: dict[str, str], line: int) -> None:
        reason = self._problem(record)
        if reason:
            self.skipped.append(Skip(self.source, line, reason))
            return
        image_id, split = _image_id(record["image"]), record["split"].strip()
        audio, image = self._path(record["audio"]), self._path(record["image"])
        self.split_of.setdefault(image_id, (split, line))
        self.audio_line[audio.resolve()] = line
        caption = record["caption"].strip()
        self.rows.append(CaptionRow(image_id, str(image), caption, split, self.count[image_id], str(audio),
                                    source=self.source, line=line))
        self.count[image_id] += 1

    def _problem(self, record: dict[str, str]) -> str:
        empty = [c for c in CSV_COLUMNS if not record.get(c, "").strip()]
        if empty:
            return f"missing value(s) for {', '.join(empty)}"
        relative = posixpath.normpath(record["image"].strip().replace("\\", "/"))
        if relative.startswith(("/", "../")) or relative == "..":
            return f"image path {record['image'].strip()!r} leaves the CSV's folder: an image's id is its path inside it"
        audio, image = self._path(record["audio"]), self._path(record["image"])
        image_id, split = _image_id(record["image"]), record["split"].strip()
        if split not in SPLITS:
            return f"unknown split {split!r}; expected one of {', '.join(SPLITS)}"
        if not is_file(audio):
            return f"audio file not found: {audio}"
        if (used := self.audio_line.get(audio.resolve())) is not None:  # one recording twice, however spelt or linked
            return f"audio {audio.name} is the recording already used at line {used}"
        if image_id in self.split_of and self.split_of[image_id][0] != split:
            earlier, at = self.split_of[image_id]
            return f"{image_id} is in the {earlier} split at line {at}: one image, one split"
        if image not in self.image_problems:
            self.image_problems[image] = image_problem(image)
        return self.image_problems[image] or ""

    def _path(self, relative: str) -> Path:
        """The file a CSV cell names, normalised but not resolved: a symlink inside the folder (photos
        linked from a dataset elsewhere) is the user's layout, and the row keeps the path they gave."""
        return Path(posixpath.normpath(self.folder / relative.strip()))


def _image_id(relative: str) -> str:
    """An image's path inside the CSV's folder as one file name: ``%`` and separators (``/``, ``\\``) escaped."""
    path = posixpath.normpath(relative.strip().replace("\\", "/"))
    return path.replace("%", "%25").replace("/", "%2F")


def read_facc(root: Path, flickr8k_root: Path, seed: int = 0) -> Corpus:
    """FACC's ``wavs/*.wav`` + ``wav2capt.txt``, with captions, images and splits from Flickr8k.

    ``wav2capt.txt`` lines read ``<wav> <image> #<n>``; ``#n`` is the official caption
    number, which in Kaggle-format copies is the caption's order among its image's rows.
    """
    root = Path(root).expanduser().resolve()
    mapping = root / "wav2capt.txt"
    wav_dir = root / "wavs"
    if not mapping.is_file() or not wav_dir.is_dir():
        raise InputError(f"{root}: not a Flickr Audio Caption Corpus folder; expected wavs/ and wav2capt.txt")
    flickr = read_flickr8k(flickr8k_root, seed=seed)
    by_caption = {(r.image_id, r.caption_index): r for r in flickr.rows}
    images = {r.image_id for r in flickr.rows}
    rows: list[CaptionRow] = []
    skipped = list(flickr.skipped)
    used: set[tuple[str, int]] = set()
    for line, text in decoded_lines(mapping, skipped):
        fields = text.split()
        if not fields:
            continue
        number = fields[2][1:] if len(fields) == 3 and fields[2].startswith("#") else ""
        if not number.isascii() or not number.isdigit():
            skipped.append(Skip(str(mapping), line, "malformed line: expected '<wav> <image> #<n>'"))
            continue
        wav, image_id, key = wav_dir / fields[0], fields[1], (fields[1], int(number))
        if problem := id_problem(fields[0]):
            reason = f"wav name: {problem}; expected a file name in {wav_dir}"
        elif not is_file(wav):
            reason = f"audio file not found: {wav}"
        elif image_id not in images:
            reason = f"unknown image {image_id}: not among the usable Flickr8k images"
        elif key not in by_caption:
            reason = f"{image_id} has no usable caption {fields[2]}"
        elif key in used:
            reason = f"{image_id}{fields[2]} already has a recording"
        else:
            used.add(key)
            caption = by_caption[key]
            rows.append(CaptionRow(image_id, caption.image_path, caption.caption, caption.split, key[1], str(wav),
                                   source=str(mapping), line=line))
            continue
        skipped.append(Skip(str(mapping), line, reason))
    return Corpus(rows=rows, skipped=skipped)
