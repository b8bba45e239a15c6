"""Corpora as rows: one row per spoken (or to-be-spoken) caption of an image.

Every reader returns a ``Corpus``: the good rows and every row it skipped, each
skip naming the file and line at fault, so nothing is lost silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sonovis.config import CorpusConfig
from sonovis.errors import ConfigError, InputError

CORPUS_KINDS = ("builtin", "flickr8k", "recordings")


@dataclass(frozen=True)
class CaptionRow:
    image_id: str  # file name of the image, e.g. "1000268201_693b08cb0e.jpg"
    image_path: str  # absolute path, readable by every Ray worker
    caption: str
    split: str  # train | dev | test
    caption_index: int  # 0..4 within the image: keeps utterance ids stable across runs
    audio_path: str = ""  # recordings only: the user's audio for this caption

    @property
    def utterance_id(self) -> str:
        return f"{self.image_id}#{self.caption_index}"


@dataclass(frozen=True)
class Skip:
    source: str  # file the bad row came from
    line: int  # 1-based line number (0 when the problem is not tied to a line)
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.reason}"


@dataclass
class Corpus:
    rows: list[CaptionRow] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def split_counts(self) -> dict[str, dict[str, int]]:
        """Images and captions per split, for manifests and summary tables."""
        captions = Counter(r.split for r in self.rows)
        images = Counter(split for split, _ in {(r.split, r.image_id) for r in self.rows})
        return {s: {"images": images[s], "captions": captions[s]} for s in sorted(captions)}

    def select(self, splits: tuple[str, ...], limit_images: int = 0) -> "Corpus":
        """Keep the given splits and, per split, the first ``limit_images`` images (sorted by id)."""
        keep = self.first_images({(r.split, r.image_id) for r in self.rows}, splits, limit_images)
        return Corpus(rows=[r for r in self.rows if (r.split, r.image_id) in keep], skipped=list(self.skipped))

    @staticmethod
    def first_images(images: set[tuple[str, str]], splits: tuple[str, ...],
                     limit_images: int = 0) -> set[tuple[str, str]]:
        """The (split, image) pairs in ``splits``, the first ``limit_images`` of each by id (0: all)."""
        keep: set[tuple[str, str]] = set()
        for split in splits:
            ids = sorted(i for s, i in images if s == split)
            keep.update((split, i) for i in (ids[:limit_images] if limit_images else ids))
        return keep


def load_corpus(cfg: CorpusConfig, workdir: Path) -> Corpus:
    """The corpus ``cfg`` names, cut to ``cfg.splits`` and ``cfg.limit`` images per split.

    ``recordings`` accepts a CSV file, a folder holding ``recordings.csv``, or a FACC
    folder holding ``wav2capt.txt``. FACC takes its captions from the first Flickr8k
    folder found among ``<root>/Flickr8k``, ``<root>/flickr8k``, ``<root>/../Flickr8k``
    and ``<root>/../flickr8k``.
    """
    # Imported here: the readers import this module's dataclasses.
    from sonovis.corpus.flickr8k import read_flickr8k
    from sonovis.corpus.recordings import read_facc, read_recordings_csv
    from sonovis.corpus.scenes import build_scenes

    if cfg.kind not in CORPUS_KINDS:
        raise ConfigError(f"corpus.kind {cfg.kind!r}: expected one of {', '.join(CORPUS_KINDS)}")
    if cfg.kind == "builtin":
        root = Path(cfg.root).expanduser() if cfg.root else Path(workdir) / "builtin"
        corpus = build_scenes(root, counts=cfg.builtin_images, seed=cfg.seed, splits=cfg.splits)
    elif not cfg.root:
        raise ConfigError(f"corpus.root is required for corpus.kind = {cfg.kind!r}")
    elif cfg.kind == "flickr8k":
        corpus = read_flickr8k(Path(cfg.root), seed=cfg.seed, splits=cfg.splits, limit_images=cfg.limit)
    else:
        root = Path(cfg.root).expanduser().resolve()
        if root.is_file():
            corpus = read_recordings_csv(root)
        elif (root / "recordings.csv").is_file():
            corpus = read_recordings_csv(root / "recordings.csv")
        elif (root / "wav2capt.txt").is_file():
            corpus = read_facc(root, _flickr8k_beside(root), seed=cfg.seed)
        else:
            raise InputError(
                f"{root}: expected a recordings CSV, a folder with recordings.csv, or a FACC folder with wav2capt.txt"
            )
    return corpus.select(cfg.splits, cfg.limit)


def _flickr8k_beside(facc_root: Path) -> Path:
    candidates = [folder / name for folder in (facc_root, facc_root.parent) for name in ("Flickr8k", "flickr8k")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise InputError(f"{facc_root}: FACC needs Flickr8k's captions; none of {', '.join(map(str, candidates))} exists")
