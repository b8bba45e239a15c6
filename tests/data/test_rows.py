"""Hostile corpus files: every line ends as a row or a skip at its line, or the file is one clear InputError."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonovis.config import CorpusConfig, SpeechConfig
from sonovis.data.corpus.checks import id_problem, screen, text_problem
from sonovis.data.corpus.flickr8k import read_flickr8k
from sonovis.data.corpus.load import load_corpus
from sonovis.data.corpus.recordings import read_facc, read_recordings_csv
from sonovis.data.corpus.rows import CaptionRow, Corpus
from sonovis.data.speech.espeak import EspeakEngine
from sonovis.errors import InputError

EVERY_SPLIT = ("train", "dev", "test")
LONG_NAME = "x" * 300 + ".jpg"  # longer than any file name the system allows


@pytest.fixture(scope="module")
def images(shared_flickr8k: Path) -> list[str]:
    return sorted(p.name for p in (shared_flickr8k / "images").iterdir())[:2]


@pytest.fixture(scope="module")
def kaggle_root(shared_flickr8k: Path, images: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Kaggle-layout folder with two real images, whose captions.txt each test writes."""
    root = tmp_path_factory.mktemp("kaggle")
    (root / "Images").mkdir()
    for name in images:
        (root / "Images" / name).symlink_to(shared_flickr8k / "images" / name)
    return root


def accounted_lines(corpus: Corpus, source: Path) -> list[int]:
    """Line numbers of ``source`` that became a row or a skip, in order, repeats kept."""
    lines = [r.line for r in corpus.rows if r.source == str(source)]
    return sorted(lines + [s.line for s in corpus.skipped if s.source == str(source)])


def test_bad_lines_cost_only_themselves(kaggle_root: Path, images: list[str]) -> None:
    dog, cat = images
    lines = [b"image,caption"] + [f"{dog},A dog runs number {k} .".encode() for k in range(3)]
    lines += [f"{cat},Un caf\xe9 au soleil .".encode("latin-1"),  # 5: latin-1
              f"{cat},A cat\x00 sleeps on a mat .".encode(),  # 6: NUL
              f"{cat},{' '.join(['word'] * 4000)}".encode(),  # 7: 4,000 words
              f"{cat},\"A cat with an open quote".encode(),  # 8
              f"../../{cat},A cat outside the folder".encode(),  # 9
              f"{LONG_NAME},A name too long to exist".encode(),  # 10
              f"{cat},A zero\u200bwidth space".encode(),  # 11: format character
              f"{cat},A cat sits on a wall .".encode()]  # 12
    (kaggle_root / "captions.txt").write_bytes(b"\r\n".join(lines) + b"\r\n")
    corpus = load_corpus(CorpusConfig(kind="flickr8k", root=str(kaggle_root), splits=EVERY_SPLIT), kaggle_root)
    assert [(r.image_id, r.line) for r in corpus.rows] == [(dog, 2), (dog, 3), (dog, 4), (cat, 12)]
    reasons = {s.line: s.reason for s in corpus.skipped}
    assert {s.source for s in corpus.skipped} == {str(kaggle_root / "captions.txt")}
    assert reasons[5].startswith("not UTF-8 text") and "column" in reasons[5]
    assert reasons[6] == f"control character U+0000 at column {len(cat) + 7}"
    assert reasons[7] == "caption of 4000 words, over corpus.max_caption_words = 50"
    assert reasons[8] == "malformed row: bad CSV quoting"
    assert "contains '..'" in reasons[9] and "image file not found" in reasons[10]
    assert reasons[11].startswith("control character U+200B")
    assert accounted_lines(corpus, kaggle_root / "captions.txt") == list(range(2, 13))


def test_official_token_file_and_facc_decode_per_line(shared_flickr8k: Path, images: list[str],
                                                      tmp_path: Path) -> None:
    dog, cat = images
    root = tmp_path / "Flickr8k"
    (root / "Flicker8k_Dataset").mkdir(parents=True)
    for name in images:
        (root / "Flicker8k_Dataset" / name).symlink_to(shared_flickr8k / "images" / name)
    (root / "Flickr8k.token.txt").write_bytes(b"\n".join([
        f"{dog}#0\tA dog runs .".encode(), f"{dog}#1\tA d\xf6g".encode("latin-1"),
        f"{dog}#\u00b2\tA superscript number".encode(), f"{cat}#0\tA cat\x7f sits".encode(),
        f"{cat}#1\tA cat sleeps .".encode()]))
    corpus = read_flickr8k(root, splits=EVERY_SPLIT)
    assert [(r.utterance_id, r.line) for r in corpus.rows] == [(f"{dog}#0", 1), (f"{cat}#1", 5)]
    reasons = {s.line: s.reason for s in corpus.skipped}
    assert reasons[2].startswith("not UTF-8") and reasons[3].startswith("malformed line")
    assert reasons[4] == f"control character U+007F at column {len(cat) + 9}"  # columns count the whole line
    facc = tmp_path / "facc"
    (facc / "wavs").mkdir(parents=True)
    subprocess.run(["espeak-ng", "-w", str(facc / "wavs" / "d.wav"), "A dog runs."], check=True)
    shutil.copy(facc / "wavs" / "d.wav", facc / "outside.wav")
    (facc / "wav2capt.txt").write_bytes(b"\n".join([
        f"d.wav {dog} #0".encode(), f"../outside.wav {cat} #1".encode(), b"d\xff.wav x.jpg #0"]))
    recorded = read_facc(facc, root)
    assert [(r.utterance_id, r.line, Path(r.source).name) for r in recorded.rows] == [(f"{dog}#0", 1, "wav2capt.txt")]
    reasons = {s.line: s.reason for s in recorded.skipped if s.source.endswith("wav2capt.txt")}
    assert "wav name: unsafe id '../outside.wav'" in reasons[2] and reasons[3].startswith("not UTF-8")


def test_checks_name_the_character_and_refuse_path_ids() -> None:
    assert text_problem("A dog\trunning") is None and text_problem("Ein Hund läuft 🐕") is None
    assert text_problem("a\x85b") == "control character U+0085 at column 2"  # C1 NEL
    assert text_problem("a\u2028b") and text_problem("\u202eevil")  # line separator, bidi override
    for bad in ("../x.jpg", "a/b.jpg", "a\\b.jpg", "..", "", "a\x00.jpg"):
        assert id_problem(bad), bad
    assert id_problem("1000268201_693b08cb0e.jpg") is None and id_problem("photos%2Fdog.jpg") is None


def test_speech_engine_refuses_unprintable_text_rather_than_speaking_part_of_it() -> None:
    engine = EspeakEngine(SpeechConfig())
    row = CaptionRow("x.jpg", "/nowhere/x.jpg", "A dog\x00 hidden words", "train", 0)
    with pytest.raises(InputError, match="caption not spoken: control character U\\+0000 at column 6"):
        engine.audio_for(row, engine.voice_for(row.utterance_id))


# --- generated files -------------------------------------------------------------------------

PIECES = st.sampled_from(["a dog", ",", '"', "\x00", "\t", "\u200b", "é", "..", "/", "#0", " ", "\x85", "word " * 8])
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=6).map("".join)
RAW = st.one_of(TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=12))


def line_of(fields: list[bytes]) -> bytes:
    return b",".join(fields)


def non_blank_lines(data: bytes) -> set[int]:
    """Lines after the header that hold anything but whitespace: each must become a row or a skip."""
    lines = set()
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "undecodable"
        if n > 1 and (text_problem(text) or text.strip()):
            lines.add(n)
    return lines


@settings(max_examples=60, deadline=None, database=None,  # no example store left in the work tree
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_captions_files_end_as_rows_and_skips(kaggle_root: Path, images: list[str], data) -> None:
    image = st.one_of(st.sampled_from([n.encode() for n in images] + [b"../" + images[0].encode(),
                                                                       b"missing.jpg", LONG_NAME.encode()]), RAW)
    rows = data.draw(st.lists(st.one_of(st.tuples(image, RAW).map(list).map(line_of), RAW), max_size=8))
    header = data.draw(st.sampled_from([b"image,caption", b"\xef\xbb\xbfimage,caption", b"img,text", b""]))
    ending = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    content = ending.join([header, *rows])
    (kaggle_root / "captions.txt").write_bytes(content)
    try:  # images are not decoded here: test_bad_lines_cost_only_themselves covers that, and it is slow
        corpus = screen(read_flickr8k(kaggle_root, verify_images=False), max_caption_words=6)
    except InputError as err:
        assert "\n" not in str(err) and str(kaggle_root) in str(err)
        return
    accounted = accounted_lines(corpus, kaggle_root / "captions.txt")
    assert accounted == sorted(non_blank_lines(content))  # every line once, as a row or a skip
    for row in corpus.rows:
        assert text_problem(row.caption) is None and id_problem(row.image_id) is None
        assert 0 < len(row.caption.split()) <= 6


@pytest.fixture(scope="module")
def recordings_root(shared_flickr8k: Path, images: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recordings")
    (root / "photos").mkdir()
    for name in images:
        (root / "photos" / name).symlink_to(shared_flickr8k / "images" / name)
    for k in range(3):
        subprocess.run(["espeak-ng", "-w", str(root / f"{k}.wav"), f"caption {k}"], check=True)
    return root


@settings(max_examples=60, deadline=None, database=None,  # no example store left in the work tree
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_recordings_csvs_end_as_rows_and_skips(recordings_root: Path, images: list[str], data) -> None:
    audio = st.one_of(st.sampled_from([b"0.wav", b"1.wav", b"2.wav", b"../0.wav", b"gone.wav"]), RAW)
    image = st.one_of(st.sampled_from([f"photos/{n}".encode() for n in images] + [b"../photos/x.jpg",
                                                                                   b"/etc/passwd"]), RAW)
    split = st.one_of(st.sampled_from([b"train", b"dev", b"test"]), RAW)
    row = st.tuples(audio, image, RAW, split).map(list).map(line_of)
    rows = data.draw(st.lists(st.one_of(row, RAW), max_size=8))
    header = data.draw(st.sampled_from([b"audio,image,caption,split", b"image,audio,split,caption", b"audio,x", b""]))
    csv_path = recordings_root / "recordings.csv"
    content = b"\n".join([header, *rows])
    csv_path.write_bytes(content)
    try:
        corpus = read_recordings_csv(csv_path)
    except InputError as err:
        assert "\n" not in str(err) and str(csv_path) in str(err)
        return
    assert accounted_lines(corpus, csv_path) == sorted(non_blank_lines(content))
    for r in corpus.rows:
        assert id_problem(r.image_id) is None and text_problem(r.caption) is None
        assert Path(r.image_path).is_relative_to(recordings_root)
