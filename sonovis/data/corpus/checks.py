"""What a corpus file's lines, captions and ids may hold, so one hostile row is one skip, never a lost corpus.

Files from elsewhere are data: each line is decoded on its own (one latin-1 line costs that
line, not the file), text with control characters never reaches a synthesiser (espeak-ng
stops speaking at a NUL while the stored caption keeps it), and ids, which name utterances
in shards and may one day name files, hold no path separators or ``..``.
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path
from typing import Iterator

from sonovis.data.corpus.rows import Corpus, Skip
from sonovis.errors import InputError

# Unicode categories refused in text: controls (C0, DEL, C1), format characters (zero-width
# spaces and joiners, bidi overrides, BOMs), surrogates and line/paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
ALLOWED_CONTROLS = frozenset("\t")  # the official token file's separator; harmless inside a caption


def decoded_lines(path: Path, skipped: list[Skip]) -> Iterator[tuple[int, str]]:
    """(1-based line, text) of each line that is UTF-8 and printable; every other line is a skip.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r``, as editors count them; a UTF-8 BOM is dropped.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    for line, raw in enumerate(data.splitlines(), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            skipped.append(Skip(str(path), line, f"not UTF-8 text ({err.reason} at column {err.start + 1})"))
            continue
        problem = text_problem(text)
        if problem:
            skipped.append(Skip(str(path), line, problem))
            continue
        yield line, text


def csv_fields(text: str) -> list[str] | None:
    """One CSV line's fields, or None when its quotes do not close on the line."""
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error:
        return None


def text_problem(text: str) -> str | None:
    """Why ``text`` is not plain printable text, or None: the first refused character and its column."""
    for column, char in enumerate(text, 1):
        if char not in ALLOWED_CONTROLS and unicodedata.category(char) in REFUSED_CATEGORIES:
            return f"control character U+{ord(char):04X} at column {column}"
    return None


def id_problem(identifier: str) -> str | None:
    """Why ``identifier`` is not a safe file name, or None.

    Refused rather than rewritten: an id is how a user finds an image again, so a silently
    changed one would be worse than a reported skip.
    """
    if not identifier.strip():
        return "empty id"
    if identifier in (".", "..") or ".." in identifier:
        return f"unsafe id {identifier!r}: contains '..'"
    if "/" in identifier or "\\" in identifier:
        return f"unsafe id {identifier!r}: contains a path separator"
    problem = text_problem(identifier)
    return f"unsafe id {identifier!r}: {problem}" if problem else None


def is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name the system refuses (e.g. over 255 bytes) is simply not one."""
    try:
        return path.is_file()
    except OSError:
        return False


def screen(corpus: Corpus, max_caption_words: int) -> Corpus:
    """The corpus less rows with unsafe ids, unprintable or over-long captions, each a skip at its line.

    The last check every corpus passes, whatever reader made it, before anything is spoken or written.
    """
    rows, skipped = [], list(corpus.skipped)
    for row in corpus.rows:
        words = len(row.caption.split())
        reason = id_problem(row.image_id) or text_problem(row.caption)
        if not reason and max_caption_words and words > max_caption_words:
            reason = f"caption of {words} words, over corpus.max_caption_words = {max_caption_words}"
        if reason:
            skipped.append(Skip(row.source or row.image_path, row.line, reason))
        else:
            rows.append(row)
    return Corpus(rows=rows, skipped=skipped)
