"""What every corpus reader returns: caption rows, and every row it skipped with file and line."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaptionRow:
    image_id: str  # file name of the image, e.g. "1000268201_693b08cb0e.jpg"
    image_path: str  # absolute path, readable by every Ray worker
    caption: str
    split: str  # train | dev | test
    caption_index: int  # 0..4 within the image: keeps utterance ids stable across runs
    audio_path: str = ""  # recordings only: the user's audio for this caption
    # Where the row came from, so a skip found while speaking or extracting still names the
    # file and line a user can fix ("" and 0 for the generated built-in scenes).
    source: str = ""
    line: int = 0

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
