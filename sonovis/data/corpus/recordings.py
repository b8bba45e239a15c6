"""The user's own spoken captions: a simple CSV, or the Flickr Audio Caption Corpus (FACC).

Real speech is what the model is ultimately for, so recordings enter as ordinary
caption rows that also carry ``audio_path``; the rest of the pipeline then skips
synthesis for them. As with every reader, a bad row is a ``Skip`` with file and line.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from sonovis.config import SPLITS
from sonovis.data.corpus.flickr8k import image_problem, read_flickr8k
from sonovis.data.corpus.rows import CaptionRow, Corpus, Skip
from sonovis.errors import InputError

CSV_COLUMNS = ("audio", "image", "caption", "split")


def read_recordings_csv(csv_path: Path) -> Corpus:
    """Rows of ``audio,image,caption,split``; paths are relative to the CSV's folder.

    ``image_id`` is the image path relative to that folder, so two photos called
    ``1.jpg`` in different sub-folders stay distinct. A caption's number is its order
    among its image's rows.
    """
    csv_path = Path(csv_path).expanduser().resolve()
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{csv_path}: cannot read the recordings CSV ({err})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        expected = ",".join(CSV_COLUMNS)
        raise InputError(f"{csv_path}:1: missing column(s) {', '.join(missing)}; expected the header {expected}")

    rows_reader = _CsvRows(csv_path)
    end_of_previous = reader.line_num
    for fields in reader:
        line, end_of_previous = end_of_previous + 1, reader.line_num
        if not fields:
            continue
        if len(fields) > len(header):
            reason = f"malformed row: {len(fields)} fields for {len(header)} columns"
            rows_reader.skipped.append(Skip(str(csv_path), line, reason))
            continue
        rows_reader.add(dict(zip(header, fields)), line)
    return Corpus(rows=rows_reader.rows, skipped=rows_reader.skipped)


class _CsvRows:
    """What the CSV rows seen so far settle: each image's split, used audio, caption numbers."""

    def __init__(self, csv_path: Path) -> None:
        self.source, self.folder = str(csv_path), csv_path.parent
        self.rows: list[CaptionRow] = []
        self.skipped: list[Skip] = []
        self.split_of: dict[str, tuple[str, int]] = {}  # image id -> (split, line that set it)
        self.audio_line: dict[Path, int] = {}
        self.image_problems: dict[Path, str | None] = {}  # each image is decoded once
        self.count: Counter[str] = Counter()

    def add(self, record: dict[str, str], line: int) -> None:
        reason = self._problem(record)
        if reason:
            self.skipped.append(Skip(self.source, line, reason))
            return
        image_id, split = Path(record["image"].strip()).as_posix(), record["split"].strip()
        audio, image = self._path(record["audio"]), self._path(record["image"])
        self.split_of.setdefault(image_id, (split, line))
        self.audio_line[audio] = line
        caption = record["caption"].strip()
        self.rows.append(CaptionRow(image_id, str(image), caption, split, self.count[image_id], str(audio)))
        self.count[image_id] += 1

    def _problem(self, record: dict[str, str]) -> str:
        empty = [c for c in CSV_COLUMNS if not record.get(c, "").strip()]
        if empty:
            return f"missing value(s) for {', '.join(empty)}"
        audio, image = self._path(record["audio"]), self._path(record["image"])
        image_id, split = Path(record["image"].strip()).as_posix(), record["split"].strip()
        if split not in SPLITS:
            return f"unknown split {split!r}; expected one of {', '.join(SPLITS)}"
        if not audio.is_file():
            return f"audio file not found: {audio}"
        if audio in self.audio_line:
            return f"audio {audio.name} is already used at line {self.audio_line[audio]}"
        if image_id in self.split_of and self.split_of[image_id][0] != split:
            earlier, at = self.split_of[image_id]
            return f"{image_id} is in the {earlier} split at line {at}: one image, one split"
        if image not in self.image_problems:
            self.image_problems[image] = image_problem(image)
        return self.image_problems[image] or ""

    def _path(self, relative: str) -> Path:
        return (self.folder / relative.strip()).resolve()


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
    try:
        lines = mapping.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{mapping}: cannot read ({err})") from None
    for line, text in enumerate(lines, 1):
        fields = text.split()
        if not fields:
            continue
        if len(fields) != 3 or not fields[2].startswith("#") or not fields[2][1:].isdigit():
            skipped.append(Skip(str(mapping), line, "malformed line: expected '<wav> <image> #<n>'"))
            continue
        wav, image_id, key = wav_dir / fields[0], fields[1], (fields[1], int(fields[2][1:]))
        if not wav.is_file():
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
            rows.append(CaptionRow(image_id, caption.image_path, caption.caption, caption.split, key[1], str(wav)))
            continue
        skipped.append(Skip(str(mapping), line, reason))
    return Corpus(rows=rows, skipped=skipped)
