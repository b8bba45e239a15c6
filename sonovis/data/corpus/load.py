"""The corpus a config names: the one place that maps ``corpus.kind`` to its reader."""

from __future__ import annotations

from pathlib import Path

from sonovis.config import CorpusConfig
from sonovis.data.corpus.checks import screen
from sonovis.data.corpus.rows import Corpus
from sonovis.errors import ConfigError, InputError

CORPUS_KINDS = ("builtin", "flickr8k", "recordings")


def load_corpus(cfg: CorpusConfig, workdir: Path) -> Corpus:
    """The corpus ``cfg`` names, screened (``checks.screen``) and cut to ``cfg.splits`` and ``cfg.limit``.

    ``recordings`` accepts a CSV file, a folder holding ``recordings.csv``, or a FACC
    folder holding ``wav2capt.txt``. FACC takes its captions from the first Flickr8k
    folder found among ``<root>/Flickr8k``, ``<root>/flickr8k``, ``<root>/../Flickr8k``
    and ``<root>/../flickr8k``.
    """
    # Imported here: the readers import this module's dataclasses.
    from sonovis.data.corpus.flickr8k import read_flickr8k
    from sonovis.data.corpus.recordings import read_facc, read_recordings_csv
    from sonovis.data.corpus.scenes import build_scenes

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
    return screen(corpus, cfg.max_caption_words).select(cfg.splits, cfg.limit)


def _flickr8k_beside(facc_root: Path) -> Path:
    candidates = [folder / name for folder in (facc_root, facc_root.parent) for name in ("Flickr8k", "flickr8k")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise InputError(f"{facc_root}: FACC needs Flickr8k's captions; none of {', '.join(map(str, candidates))} exists")
