"""Training-time augmentation on real espeak-ng features: each switch changes the frames as it claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from sonovis.config import (
    AugmentConfig,
    FeatureConfig,
    ModelConfig,
    SearchConfig,
    SpeechConfig,
    experiment_config,
    experiment_from_flat,
    flatten,
    load_settings,
)
from sonovis.data.audio import Waveform
from sonovis.data.features import _extractor, speech_features
from sonovis.data.speech.espeak import EspeakEngine
from sonovis.errors import ConfigError
from sonovis.model.encoders import SpeechEncoder
from sonovis.model.frames import frame_mask
from sonovis.train.augment import (
    Augmenter,
    LogMel,
    add_noise,
    is_active,
    mask_time,
    orthonormal_dct,
    speed_perturb,
    warp_mel,
)
from sonovis.train.batches import pad_frames

CAPTIONS = ("a red circle above a small blue square", "two dogs run",
            "the green triangle is left of a large yellow star on a grey background")
KINDS = ("mfcc", "logmel")


@pytest.fixture(scope="module")
def waves() -> list[Waveform]:
    engine = EspeakEngine(SpeechConfig())
    return [engine.synthesize(text, engine.voice_for(f"aug#{i}")) for i, text in enumerate(CAPTIONS)]


def batch(waves: list[Waveform], kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded [3, T, 40] frames of the three captions, as the Trainer's make_batch gives them."""
    cfg = FeatureConfig(kind=kind)
    return pad_frames([speech_features(w.samples, w.sample_rate, cfg) for w in waves])


def valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return frame_mask(lengths, x.shape[1]).unsqueeze(-1).expand_as(x)


def power_snr_db(clean: torch.Tensor, noisy: torch.Tensor, length: int) -> float:
    return float(10 * torch.log10(clean[:length].sum() / (noisy[:length] - clean[:length]).sum()))


def test_nothing_is_on_by_default() -> None:
    assert not is_active(AugmentConfig())
    assert is_active(AugmentConfig(time_masks=1)) and is_active(AugmentConfig(noise_snr_db=(10.0, 20.0)))


@pytest.mark.parametrize("kind", KINDS)
def test_mfcc_logmel_round_trip_is_exact_and_vtlp_of_one_is_identity(waves, kind: str) -> None:
    x, lengths = batch(waves, kind)
    domain = LogMel(FeatureConfig(kind=kind))
    y = domain.to_logmel(x.double())
    assert (domain.from_logmel(y).float() - x).abs().max() < 1e-4
    assert (warp_mel(y, torch.ones(3, dtype=torch.float64)) - y).abs().max() < 1e-9
    assert (domain.from_power(domain.to_power(y)) - y)[valid(y, lengths)].abs().max() < 1e-4


def test_inverse_dct_recovers_the_db_mel_spectrum_features_computed(waves) -> None:
    """The log-mel the augmentations work on is torchaudio's own dB mel power behind the prepared MFCC."""
    cfg = FeatureConfig()
    assert (orthonormal_dct(40, 40).float() - torchaudio.functional.create_dct(40, 40, "ortho")).abs().max() < 1e-5
    mfcc_transform = _extractor("mfcc", cfg.sample_rate, cfg.n_mfcc, cfg.n_mels, cfg.win_ms, cfg.hop_ms)
    wave = torchaudio.functional.resample(torch.from_numpy(waves[1].samples), waves[1].sample_rate, cfg.sample_rate)
    db = mfcc_transform.amplitude_to_DB(mfcc_transform.MelSpectrogram(wave)).T.double()
    x, lengths = batch(waves, "mfcc")
    recovered = LogMel(cfg).to_logmel(x[1, : lengths[1]].double())
    assert recovered.shape == db.shape and (recovered - db).abs().max() < 0.1  # dB, of float32 MFCC


def test_time_masks_blank_whole_frame_spans_within_the_valid_length(waves) -> None:
    x, lengths = batch(waves, "mfcc")
    torch.manual_seed(0)
    masked = mask_time(x, lengths, count=2, width=30)
    mean = (x * valid(x, lengths)).sum(dim=1) / lengths[:, None]
    for b, length in enumerate(lengths.tolist()):
        changed = (masked[b] != x[b]).any(dim=1)
        assert not changed[length:].any() and (masked[b, length:] == 0).all()  # padding untouched
        assert torch.allclose(masked[b, changed], mean[b].expand(int(changed.sum()), -1))  # whole frames
        runs = np.flatnonzero(np.diff(np.concatenate([[0], changed.int().numpy(), [0]])))
        starts = runs[::2]
        assert len(starts) <= 2 and int(changed.sum()) <= 60  # two spans of at most 30 (they may touch)
    assert (masked != x).any()


@pytest.mark.parametrize("kind", KINDS)
def test_frequency_masks_flatten_whole_mel_bins(waves, kind: str) -> None:
    x, lengths = batch(waves, kind)
    torch.manual_seed(1)
    out, out_lengths = Augmenter(AugmentConfig(freq_masks=2, freq_mask_width=6), FeatureConfig(kind=kind))(x, lengths)
    assert torch.equal(out_lengths, lengths)
    domain = LogMel(FeatureConfig(kind=kind))
    before, after = domain.to_logmel(x.double()), domain.to_logmel(out.double())
    hit_any = False
    for b, length in enumerate(lengths.tolist()):
        changed = ((after[b, :length] - before[b, :length]).abs() > 1e-3).any(dim=0)  # [40] bins
        assert int(changed.sum()) <= 12
        flat = after[b, :length, changed]
        assert (flat - flat.mean(dim=0)).abs().max() < 1e-3  # a hit bin is one value over the whole utterance
        assert (after[b, :length, ~changed] - before[b, :length, ~changed]).abs().max() < 1e-3
        assert (out[b, length:] == 0).all()
        hit_any |= bool(changed.any())
    assert hit_any


def test_speed_changes_lengths_by_the_factor_and_keeps_padding_zero(waves) -> None:
    x, lengths = batch(waves, "mfcc")
    factors = torch.tensor([0.8, 1.25, 1.0], dtype=torch.float64)
    out, new = speed_perturb(x, lengths, factors)
    assert new.tolist() == [round(n / f) for n, f in zip(lengths.tolist(), factors.tolist())]
    assert out.shape[1] == int(new.max())
    for b, n in enumerate(new.tolist()):
        assert (out[b, n:] == 0).all()
        assert torch.allclose(out[b, 0], x[b, 0]) and torch.allclose(out[b, n - 1], x[b, lengths[b] - 1])
    assert torch.allclose(out[2, : new[2]], x[2, : lengths[2]], atol=1e-3)  # factor 1: the same frames


def test_vtlp_shifts_spectral_energy_and_keeps_the_band_edges(waves) -> None:
    x, lengths = batch(waves, "logmel")
    y = x.double()
    bins = torch.arange(40, dtype=torch.float64)

    def centroid(z: torch.Tensor) -> float:
        power = torch.exp(z[0, : lengths[0]])
        return float((power * bins).sum() / power.sum())

    up = warp_mel(y, torch.full((3,), 1.15, dtype=torch.float64))
    down = warp_mel(y, torch.full((3,), 0.85, dtype=torch.float64))
    assert centroid(up) < centroid(y) < centroid(down)  # reading higher bins moves energy down, and back
    for warped in (up, down):
        assert torch.allclose(warped[..., 0], y[..., 0]) and torch.allclose(warped[..., -1], y[..., -1])


@pytest.mark.parametrize("kind", KINDS)
def test_noise_brings_the_snr_to_the_target(waves, kind: str) -> None:
    x, lengths = batch(waves, kind)
    domain = LogMel(FeatureConfig(kind=kind))
    clean = domain.to_power(domain.to_logmel(x.double()))
    torch.manual_seed(2)
    noisy = add_noise(clean, lengths, torch.tensor([5.0, 15.0, 25.0], dtype=torch.float64))
    for b, target in enumerate((5.0, 15.0, 25.0)):
        assert power_snr_db(clean[b], noisy[b], int(lengths[b])) == pytest.approx(target, abs=0.3)
    out, _ = Augmenter(AugmentConfig(noise_snr_db=(12.0, 12.0)), FeatureConfig(kind=kind))(x, lengths)
    through = domain.to_power(domain.to_logmel(out.double()))
    for b in range(3):  # the whole path: features -> log-mel -> power + noise -> features
        assert power_snr_db(clean[b], through[b], int(lengths[b])) == pytest.approx(12.0, abs=0.3)


def test_gain_scales_power_and_normalisation_undoes_it_on_mfcc(waves) -> None:
    x, lengths = batch(waves, "mfcc")
    torch.manual_seed(3)
    out, _ = Augmenter(AugmentConfig(gain_db=6.0), FeatureConfig())(x, lengths)
    domain = LogMel(FeatureConfig())
    shift = domain.to_logmel(out.double()) - domain.to_logmel(x.double())
    for b, length in enumerate(lengths.tolist()):
        db = shift[b, :length]
        assert (db - db[0, 0]).abs().max() < 1e-3 and 0 < abs(float(db[0, 0])) <= 6.0  # one gain per utterance
    encoder = SpeechEncoder(ModelConfig(), feat_dim=40)
    assert torch.allclose(encoder.normalise(out, lengths), encoder.normalise(x, lengths), atol=1e-4)
    raw = SpeechEncoder(ModelConfig(utterance_norm=False), feat_dim=40)
    assert torch.equal(raw.normalise(x, lengths), x)


def test_all_switches_together_keep_lengths_padding_and_determinism(waves) -> None:
    x, lengths = batch(waves, "mfcc")
    cfg = AugmentConfig(time_masks=2, freq_masks=2, speed=0.2, vtlp=0.1, noise_snr_db=(10.0, 30.0), gain_db=6.0)
    augment = Augmenter(cfg, FeatureConfig())
    torch.manual_seed(4)
    first, first_lengths = augment(x, lengths)
    torch.manual_seed(4)
    again, again_lengths = augment(x, lengths)
    assert torch.equal(first, again) and torch.equal(first_lengths, again_lengths)
    assert first.dtype == torch.float32 and torch.isfinite(first).all()
    assert first.shape[1] == int(first_lengths.max()) and not torch.equal(first_lengths, lengths)
    assert (first[~valid(first, first_lengths)] == 0).all()
    assert not torch.equal(augment(x, lengths)[0], first)  # the RNG moved on: a new draw


def test_spectral_switches_refuse_truncated_mfcc() -> None:
    truncated = FeatureConfig(n_mfcc=13, n_mels=40)
    for cfg in (AugmentConfig(freq_masks=1), AugmentConfig(vtlp=0.1), AugmentConfig(noise_snr_db=(10.0, 20.0))):
        with pytest.raises(ConfigError, match="keep 13 of 40 DCT coefficients"):
            Augmenter(cfg, truncated)
    Augmenter(AugmentConfig(time_masks=2, speed=0.1, gain_db=3.0), truncated)  # time and level work on any MFCC
    Augmenter(AugmentConfig(freq_masks=1), FeatureConfig(kind="logmel", n_mfcc=13))  # log-mel needs no DCT
    with pytest.raises(ConfigError, match="augment.speed"):
        Augmenter(AugmentConfig(speed=1.5), FeatureConfig())
    with pytest.raises(ConfigError, match="noise_snr_db"):
        Augmenter(AugmentConfig(noise_snr_db=(30.0, 10.0)), FeatureConfig())


def test_augment_settings_travel_from_toml_through_the_flat_dict_to_the_search_space(tmp_path) -> None:
    from sonovis.search.tuner import param_space

    (tmp_path / "settings.toml").write_text('[augment]\ntime_masks = 2\nnoise_snr_db = [10, 30]\n'
                                            '[model]\nutterance_norm = false\n[train]\nholdout_voices = ["en-029"]\n')
    cfg = experiment_config(load_settings(tmp_path / "settings.toml", ["augment.speed=0.1"]))
    assert cfg.augment == AugmentConfig(time_masks=2, noise_snr_db=(10.0, 30.0), speed=0.1)
    assert not cfg.model.utterance_norm and cfg.train.holdout_voices == ("en-029",)
    flat = flatten(cfg)
    assert flat["augment.time_masks"] == 2 and flat["augment.noise_snr_db"] == [10.0, 30.0]
    assert experiment_from_flat(flat) == cfg
    space = param_space(SearchConfig(space={"augment.time_masks": {"choice": [0, 2]},
                                            "augment.vtlp": {"uniform": [0.0, 0.2]}}), cfg)
    assert space["augment.time_masks"].categories == [0, 2] and space["augment.vtlp"].upper == 0.2
    assert experiment_from_flat({**space, "augment.time_masks": 0, "augment.vtlp": 0.1}).augment.vtlp == 0.1
