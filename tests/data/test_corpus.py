"""Corpus readers on real files: the shared Flickr8k copy, tiny broken copies, rendered scenes, spoken WAVs."""

from __future__ import annotations

import csv
import random
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from sonovis.config import CorpusConfig
from sonovis.data.corpus.flickr8k import read_flickr8k, seeded_split
from sonovis.data.corpus.load import load_corpus
from sonovis.data.corpus.recordings import read_facc, read_recordings_csv
from sonovis.data.corpus.scenes import (
    COLOURS,
    SHAPES,
    build_scenes,
    describe,
    make_scene,
    render,
)
from sonovis.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def shared() -> Path:
    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flickr8k"
    if not root.is_dir():
        pytest.fail(f"shared Flickr8k copy not found at {root}")
    return root


@pytest.fixture(scope="module")
def shared_captions(shared: Path) -> dict[str, list[str]]:
    """The shared copy's captions per image, in file order."""
    captions: dict[str, list[str]] = {}
    with (shared / "captions.txt").open(newline="") as f:
        for image, caption in list(csv.reader(f))[1:]:
            captions.setdefault(image, []).append(caption)
    return captions


def real_images(shared: Path, count: int) -> list[str]:
    return sorted(p.name for p in (shared / "images").iterdir())[:count]


def kaggle_copy(shared: Path, root: Path, images: list[str], rows: list[tuple[str, str]]) -> Path:
    """A Kaggle-layout folder: the given real images symlinked into Images/ plus captions.txt."""
    (root / "Images").mkdir(parents=True)
    for name in images:
        (root / "Images" / name).symlink_to(shared / "images" / name)
    with (root / "captions.txt").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption"])
        writer.writerows(rows)
    return root


def skip_lines(corpus, file_name: str) -> dict[int, str]:
    return {s.line: s.reason for s in corpus.skipped if Path(s.source).name == file_name}


# --- Flickr8k ----------------------------------------------------------------------------------


def test_shared_copy_follows_its_split_files(shared: Path) -> None:
    corpus = read_flickr8k(shared)
    counts = corpus.split_counts()
    assert counts["train"]["images"] == 6000 and counts["dev"]["images"] == 1000
    assert "test" not in counts
    # 35,000 rows; the README's 9 captions repeated for the same image are reported, not kept.
    assert len(corpus.rows) == 35000 - 9
    assert len(corpus.skipped) == 9 and all("duplicate row" in s.reason and s.line > 1 for s in corpus.skipped)
    train = {line.strip() for line in (shared / "splits" / "train.txt").read_text().splitlines() if line.strip()}
    assert {r.image_id for r in corpus.rows if r.split == "train"} == train
    assert {r.caption_index for r in corpus.rows} == {0, 1, 2, 3, 4}
    assert len({r.utterance_id for r in corpus.rows}) == len(corpus.rows)
    first = corpus.rows[0]
    assert Path(first.image_path).is_absolute() and Path(first.image_path).is_file()


def test_kaggle_layout_keeps_commas_and_numbers_captions_in_order(shared, shared_captions, tmp_path) -> None:
    images = real_images(shared, 8)
    rows = [(name, caption) for name in images for caption in shared_captions[name]]
    rows.insert(3, (images[0], "A caption, with commas, written \"in quotes\""))  # 4th row of image 0
    corpus = read_flickr8k(kaggle_copy(shared, tmp_path / "kaggle", images, rows))
    assert not corpus.skipped
    of_first = [r for r in corpus.rows if r.image_id == images[0]]
    assert [r.caption_index for r in of_first] == list(range(6))
    assert of_first[3].caption == "A caption, with commas, written \"in quotes\""
    assert of_first[0].caption == shared_captions[images[0]][0].strip()
    # No split files: 8 images split 6/1/1 by seed, each image wholly in one split.
    splits = {r.image_id: r.split for r in corpus.rows}
    assert Counter(splits.values()) == {"train": 6, "dev": 1, "test": 1}
    assert len({(r.image_id, r.split) for r in corpus.rows}) == 8


def test_seeded_split_sizes_and_reproducibility() -> None:
    full = {f"{k:05d}.jpg" for k in range(8000)}
    assert Counter(seeded_split(full, seed=0).values()) == {"train": 6000, "dev": 1000, "test": 1000}
    kaggle = {f"{k:05d}.jpg" for k in range(8091)}
    assert Counter(seeded_split(kaggle, seed=0).values()) == {"train": 6091, "dev": 1000, "test": 1000}
    small = {f"{k:03d}.jpg" for k in range(80)}
    assert Counter(seeded_split(small, seed=3).values()) == {"train": 60, "dev": 10, "test": 10}
    assert seeded_split(small, seed=3) == seeded_split(set(sorted(small, reverse=True)), seed=3)
    assert seeded_split(small, seed=3) != seeded_split(small, seed=4)


def test_official_token_layout_with_split_files(shared, shared_captions, tmp_path) -> None:
    root = tmp_path / "official"
    root.mkdir()
    (root / "Flicker8k_Dataset").symlink_to(shared / "images", target_is_directory=True)
    images = real_images(shared, 4)
    lines = [f"{name}#{n}\t{caption}" for name in images for n, caption in enumerate(shared_captions[name])]
    lines.insert(2, "this line has no tab")  # line 3
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (root / "Flickr_8k.trainImages.txt").write_text(f"{images[0]}\n{images[1]}\n")
    (root / "Flickr_8k.devImages.txt").write_text(f"{images[2]}\nno_such_image.jpg\n")
    (root / "Flickr_8k.testImages.txt").write_text("")  # images[3] is in no split file

    corpus = read_flickr8k(root)
    assert {r.image_id: r.split for r in corpus.rows} == {images[0]: "train", images[1]: "train", images[2]: "dev"}
    assert [r.caption_index for r in corpus.rows if r.image_id == images[1]] == [0, 1, 2, 3, 4]
    assert skip_lines(corpus, "Flickr8k.token.txt")[3].startswith("malformed line")
    assert "unknown image no_such_image.jpg" in skip_lines(corpus, "Flickr_8k.devImages.txt")[2]
    no_split = [s for s in corpus.skipped if "in no split file" in s.reason]
    assert sorted(s.line for s in no_split) == list(range(17, 22))  # images[3]'s five lines, after the bad one
    assert all(Path(r.image_path).is_file() for r in corpus.rows)


def test_each_bad_row_is_reported_with_file_and_line(shared, tmp_path) -> None:
    good = real_images(shared, 3)
    root = kaggle_copy(shared, tmp_path / "broken", good, [])
    jpeg = (shared / "images" / good[0]).read_bytes()
    (root / "Images" / "corrupt.jpg").write_bytes(b"this is not a jpeg" * 20)
    (root / "Images" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    caption = "A child climbs the stairs ."
    (root / "captions.txt").write_text(
        "image,caption\n"
        f"{good[0]},{caption}\n"  # 2: good
        "missing.jpg,A photo that was never copied .\n"  # 3
        "corrupt.jpg,Random bytes .\n"  # 4
        "truncated.jpg,Half a picture .\n"  # 5
        f"{good[1]},   \n"  # 6: empty caption
        f"{good[0]},{caption}\n"  # 7: duplicate of line 2
        f"{good[1]},a dog,a cat,a bird\n"  # 8: malformed (unquoted commas)
        f"{good[1]},A real caption .\n"  # 9: good
        f"{good[2]},Another real caption .\n"  # 10: good
    )
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text(
        f"{good[0]}\n{good[1]}\nmissing.jpg\ncorrupt.jpg\ntruncated.jpg\nghost.jpg\n{good[2]}\n"
    )
    corpus = read_flickr8k(root)
    captions = skip_lines(corpus, "captions.txt")
    assert "image file not found" in captions[3]
    assert "undecodable image corrupt.jpg" in captions[4]
    assert "undecodable image truncated.jpg" in captions[5] and "truncated" in captions[5]
    assert captions[6] == "empty caption"
    assert captions[7].startswith("duplicate row")
    assert captions[8].startswith("malformed row")
    assert set(captions) == {3, 4, 5, 6, 7, 8}
    assert skip_lines(corpus, "train.txt") == {6: "unknown image ghost.jpg: it has no captions"}
    assert [(r.image_id, r.caption_index) for r in corpus.rows] == [(good[0], 0), (good[1], 1), (good[2], 0)]
    assert str(corpus.skipped[0]).startswith(str(root))


def test_only_selected_images_are_decoded(shared, tmp_path) -> None:
    """A --limit run must not decode all 8,000 photos, yet a broken image it selects is still reported."""
    good = real_images(shared, 2)
    root = kaggle_copy(shared, tmp_path / "sel", good, [])
    (root / "Images" / "a-corrupt.jpg").write_bytes(b"not a jpeg" * 20)  # sorts first: inside any limit
    (root / "Images" / "z-corrupt.jpg").write_bytes(b"not a jpeg" * 20)
    (root / "captions.txt").write_text(
        f"image,caption\n{good[0]},A dog .\n{good[1]},A cat .\na-corrupt.jpg,Noise .\nz-corrupt.jpg,Noise .\n")
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text(f"{good[0]}\nz-corrupt.jpg\n")
    (root / "splits" / "dev.txt").write_text(f"a-corrupt.jpg\n{good[1]}\n")
    dev = read_flickr8k(root, splits=("dev",), limit_images=2)
    assert [r.image_id for r in dev.rows] == [good[1]]
    assert [s.line for s in dev.skipped] == [4]  # a-corrupt's line; z-corrupt (train) was never decoded
    everything = read_flickr8k(root)
    assert sorted(s.line for s in everything.skipped) == [4, 5]


def test_missing_root_or_captions_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(InputError, match=r"not found.*Kaggle.*official") as missing_root:
        read_flickr8k(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(missing_root.value)
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(InputError, match=r"no captions.txt or Flickr8k.token.txt.*Kaggle") as no_captions:
        read_flickr8k(tmp_path / "empty")
    assert "\n" not in str(no_captions.value)


# --- built-in scenes ---------------------------------------------------------------------------


def test_builtin_scenes_are_reproducible_and_reused(tmp_path) -> None:
    first = build_scenes(tmp_path / "a", counts=(6, 3, 2), seed=5, splits=("train", "dev"))
    second = build_scenes(tmp_path / "b", counts=(6, 3, 2), seed=5, splits=("train", "dev"))
    assert [r.caption for r in first.rows] == [r.caption for r in second.rows]
    assert first.split_counts() == {"dev": {"images": 3, "captions": 15}, "train": {"images": 6, "captions": 30}}
    for a, b in zip(first.rows, second.rows):
        assert Path(a.image_path).read_bytes() == Path(b.image_path).read_bytes()
        assert Path(a.image_path).is_absolute() and a.image_id == b.image_id
    assert all(len({r.caption for r in first.rows if r.image_id == i}) == 5 for i in {r.image_id for r in first.rows})
    # An existing image is reused, not redrawn: re-runs are cheap.
    marker = Path(first.rows[0].image_path)
    marker.write_bytes(b"kept")
    build_scenes(tmp_path / "a", counts=(6, 3, 2), seed=5, splits=("train", "dev"))
    assert marker.read_bytes() == b"kept"
    other_seed = build_scenes(tmp_path / "a", counts=(6, 3, 2), seed=6, splits=("train",))
    assert not {r.image_id for r in other_seed.rows} & {r.image_id for r in first.rows}
    assert make_scene(5, "train", 0) != make_scene(6, "train", 0)


SHAPE_WORDS = {word: shape for shape, words in SHAPES.items() for word in words}


def test_captions_name_only_what_the_scene_holds() -> None:
    for index in range(300):
        scene = make_scene(1, "dev", index)
        rng = random.Random(index)
        for _ in range(5):
            caption = describe(scene, rng).lower()
            colours = {w for w in re.findall(r"[a-z]+", caption) if w in COLOURS}
            shapes = {SHAPE_WORDS[w] for w in SHAPE_WORDS if re.search(rf"\b{w}\b", caption)}
            assert colours and colours <= {o.colour for o in scene.objects}, caption
            assert shapes and shapes <= {o.shape for o in scene.objects}, caption


def test_images_show_their_scenes() -> None:
    """Each object's colour is painted where the scene puts it (inside the ring's band for rings)."""
    for index in range(40):
        scene = make_scene(0, "train", index)
        image = render(scene)
        assert image.size == (224, 224) and image.mode == "RGB"
        for obj in scene.objects:
            x, y = obj.centre
            if obj.shape == "ring":
                x += 0.8 * obj.radius
            assert image.getpixel((round(x), round(y))) == obj.rgb, (index, obj)
    plain = Image.new("RGB", (224, 224))
    assert render(make_scene(0, "train", 0)).tobytes() != plain.tobytes()


def test_colour_alone_does_not_identify_a_scene() -> None:
    """Guessing among the 1,000 test scenes that share a caption's colours finds the image < 10% of the time."""
    scenes = [make_scene(0, "test", index) for index in range(1000)]
    colour_sets = Counter(frozenset(o.colour for o in s.objects) for s in scenes)
    # A guesser that knows the exact colour set picks uniformly among the scenes sharing it:
    # expected recall@1 = sum over sets of (1/size * size) / N = number of distinct sets / N.
    colour_recall = len(colour_sets) / len(scenes)
    assert colour_recall < 0.1
    assert sum(1 for n in colour_sets.values() if n == 1) < 20  # almost no scene has a unique colour set
    # The full description (colour, shape, size, area of every object) does pin scenes down.
    full = Counter(frozenset((o.colour, o.shape, o.size, o.cell) for o in s.objects) for s in scenes)
    assert len(full) / len(scenes) > 0.95


# --- recordings --------------------------------------------------------------------------------


def speak(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path


def test_recordings_csv(shared, tmp_path) -> None:
    root = tmp_path / "mine"
    dog, cat = real_images(shared, 2)
    (root / "photos").mkdir(parents=True)
    for name in (dog, cat):
        (root / "photos" / name).symlink_to(shared / "images" / name)
    for k in range(4):
        speak(f"caption number {k}", root / "audio" / f"{k}.wav")
    (root / "recordings.csv").write_text(
        "audio,image,caption,split\n"
        f"audio/0.wav,photos/{dog},\"A dog, running\",train\n"  # 2
        f"audio/1.wav,photos/{dog},A dog again,train\n"  # 3
        f"audio/gone.wav,photos/{dog},No audio,train\n"  # 4
        f"audio/2.wav,photos/missing.jpg,No image,train\n"  # 5
        f"audio/2.wav,photos/{cat},,dev\n"  # 6: empty caption
        f"audio/2.wav,photos/{cat},A cat,holdout\n"  # 7: unknown split
        f"audio/2.wav,photos/{cat}\n"  # 8: columns missing
        f"audio/2.wav,photos/{dog},A dog in dev,dev\n"  # 9: dog is already in train
        f"audio/3.wav,photos/{cat},A cat sleeping,dev\n"  # 10
        f"audio/./0.wav,photos/{dog},The first dog again,train\n"  # 11: audio/0.wav spelt otherwise
        f"audio/linked.wav,photos/{cat},A cat through a link,dev\n"  # 12: a link to audio/3.wav
    )
    (root / "audio" / "linked.wav").symlink_to(root / "audio" / "3.wav")
    corpus = read_recordings_csv(root / "recordings.csv")
    assert [(r.image_id, r.caption_index, r.split, r.caption) for r in corpus.rows] == [
        (f"photos%2F{dog}", 0, "train", "A dog, running"),  # sub-folders kept, yet one safe file name
        (f"photos%2F{dog}", 1, "train", "A dog again"),
        (f"photos%2F{cat}", 0, "dev", "A cat sleeping"),
    ]
    assert [(Path(r.source).name, r.line) for r in corpus.rows] == [("recordings.csv", n) for n in (2, 3, 10)]
    assert all(Path(r.audio_path).is_absolute() and Path(r.audio_path).stat().st_size > 1000 for r in corpus.rows)
    reasons = skip_lines(corpus, "recordings.csv")
    assert "audio file not found" in reasons[4] and "image file not found" in reasons[5]
    assert "caption" in reasons[6] and "unknown split 'holdout'" in reasons[7]
    assert "caption, split" in reasons[8] and "train split at line 2" in reasons[9]
    assert "already used at line 2" in reasons[11] and "linked.wav is the recording already used at line 10" in reasons[12]
    (tmp_path / "bad.csv").write_text("audio,picture,caption,split\n")
    with pytest.raises(InputError, match=r"bad.csv:1: missing column\(s\) image"):
        read_recordings_csv(tmp_path / "bad.csv")
    loaded = load_corpus(CorpusConfig(kind="recordings", root=str(root), splits=("train", "dev", "test")), tmp_path)
    assert loaded.rows == corpus.rows


def test_facc_layout_finds_flickr8k_beside_it(shared, shared_captions, tmp_path) -> None:
    images = real_images(shared, 8)
    rows = [(name, caption) for name in images for caption in shared_captions[name]]
    kaggle_copy(shared, tmp_path / "data" / "Flickr8k", images, rows)
    facc = tmp_path / "data" / "flickr_audio"
    stem = images[0].removesuffix(".jpg")
    speak(shared_captions[images[0]][0], facc / "wavs" / f"{stem}_0.wav")
    speak(shared_captions[images[0]][2], facc / "wavs" / f"{stem}_2.wav")
    (facc / "wav2capt.txt").write_text(
        f"{stem}_0.wav {images[0]} #0\n"
        f"{stem}_2.wav {images[0]} #2\n"
        f"{stem}_3.wav {images[0]} #3\n"  # 3: no such wav
        f"{stem}_2.wav 999_nothing.jpg #0\n"  # 4: unknown image
        "just-one-field\n"  # 5: malformed
    )
    corpus = read_facc(facc, tmp_path / "data" / "Flickr8k")
    assert [(r.utterance_id, r.caption) for r in corpus.rows] == [
        (f"{images[0]}#0", shared_captions[images[0]][0].strip()),
        (f"{images[0]}#2", shared_captions[images[0]][2].strip()),
    ]
    assert all(Path(r.audio_path).is_file() and Path(r.image_path).is_file() for r in corpus.rows)
    reasons = skip_lines(corpus, "wav2capt.txt")
    assert "audio file not found" in reasons[3] and "unknown image 999_nothing.jpg" in reasons[4]
    assert reasons[5].startswith("malformed line")
    every_split = CorpusConfig(kind="recordings", root=str(facc), splits=("train", "dev", "test"))
    assert load_corpus(every_split, tmp_path).rows == corpus.rows


# --- dispatch ----------------------------------------------------------------------------------


def test_load_corpus_dispatches_and_limits(shared, tmp_path) -> None:
    builtin = load_corpus(CorpusConfig(kind="builtin", builtin_images=(5, 3, 0), limit=2, seed=2), tmp_path)
    assert builtin.split_counts() == {"dev": {"images": 2, "captions": 10}, "train": {"images": 2, "captions": 10}}
    assert all(Path(r.image_path).parent == tmp_path.resolve() / "builtin" / "images" for r in builtin.rows)
    flickr = load_corpus(CorpusConfig(kind="flickr8k", root=str(shared), splits=("dev",), limit=3), tmp_path)
    assert flickr.split_counts() == {"dev": {"images": 3, "captions": 15}}
    with pytest.raises(ConfigError, match="corpus.kind 'coco'"):
        load_corpus(CorpusConfig(kind="coco"), tmp_path)
    with pytest.raises(ConfigError, match="corpus.root is required"):
        load_corpus(CorpusConfig(kind="flickr8k"), tmp_path)
    with pytest.raises(InputError, match="wav2capt.txt"):
        load_corpus(CorpusConfig(kind="recordings", root=str(tmp_path)), tmp_path)
