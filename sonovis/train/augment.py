"""Training-time augmentation of prepared speech features, so a model hears more voices than were synthesised.

A model trained on one synthesiser scored at chance on another; these perturbations imitate
what differs between voices and recordings (tempo, vocal-tract length, noise, level) and
SpecAugment's masks, on the prepared frames, without re-synthesising anything.

Frequency-domain work happens on the log-mel spectrum the features came from
(``sonovis.data.features``): MFCC are torchaudio's ``10·log10`` mel power (dB) times an
orthonormal DCT-II, so with ``n_mfcc == n_mels`` the DCT is square and its transpose inverts
it exactly; log-mel features are ``ln(mel power + 1e-6)``. Every draw uses torch's global
RNG, which the Trainer seeds and checkpoints, so a run is repeatable for its seed. Batches
come in as zero-padded ``[B, T, F]`` frames with lengths and go out the same way.
"""

from __future__ import annotations

import math

import torch

from sonovis.config import AugmentConfig, FeatureConfig
from sonovis.data.features import LOG_MEL_FLOOR
from sonovis.errors import ConfigError
from sonovis.model.frames import frame_mask, resample_frames

VTLP_KNEE = 0.8  # share of the mel axis warped linearly; above it the warp bends so the top bin stays put
DB_TO_LN = math.log(10.0) / 10.0  # dB -> natural-log units of power
DB_FLOOR = 1e-10  # torchaudio's AmplitudeToDB amin: power never goes below it in the dB domain


def is_active(cfg: AugmentConfig) -> bool:
    """Any switch on; off means the Trainer never calls the augmenter and draws no random numbers."""
    return bool(cfg.time_masks or cfg.freq_masks or cfg.speed or cfg.vtlp or cfg.noise_snr_db or cfg.gain_db)


def _uniform(count: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, dtype=torch.float64)


def orthonormal_dct(n_mfcc: int, n_mels: int) -> torch.Tensor:
    """[n_mels, n_mfcc] DCT-II as ``torchaudio.functional.create_dct(.., "ortho")`` builds it, but in float64.

    torchaudio's float32 matrix is orthonormal only to ~1e-7, which MFCC c0's scale (hundreds)
    turns into 1e-4 round-trip errors; in float64 the transpose inverts it to 1e-12.
    """
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    dct = torch.cos(math.pi / n_mels * (n + 0.5) * k)
    dct[0] *= 1.0 / math.sqrt(2.0)
    return (dct * math.sqrt(2.0 / n_mels)).T


class LogMel:
    """Prepared frames <-> log-mel <-> mel power, for the feature settings of one prepared folder."""

    def __init__(self, features: FeatureConfig):
        self.kind = features.kind
        self.n_mels = features.n_mels
        self.invertible = features.kind == "logmel" or features.n_mfcc == features.n_mels
        self.dct = orthonormal_dct(features.n_mfcc, features.n_mels)

    def to_logmel(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.dct.T.to(x.dtype) if self.kind == "mfcc" else x

    def from_logmel(self, y: torch.Tensor) -> torch.Tensor:
        return y @ self.dct.to(y.dtype) if self.kind == "mfcc" else y

    def to_power(self, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "mfcc":
            return torch.exp(y * DB_TO_LN)  # 10 ** (y / 10), at a quarter of pow's cost
        return (torch.exp(y) - LOG_MEL_FLOOR).clamp(min=0.0)

    def from_power(self, p: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(p.clamp(min=DB_FLOOR)) if self.kind == "mfcc" else torch.log(p + LOG_MEL_FLOOR)

    def gain(self, x: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
        """Prepared frames [B, T, F] louder by ``db`` [B]; MFCC need no inverse DCT (a dB shift is linear)."""
        if self.kind == "mfcc":
            return x + db.to(x.dtype)[:, None, None] * self.dct.sum(dim=0).to(x.dtype)
        return self.from_power(self.to_power(x) * torch.pow(10.0, db / 10.0)[:, None, None])


def speed_perturb(x: torch.Tensor, lengths: torch.Tensor, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tempo change by ``factors`` [B]: each utterance's frames resampled to round(length / factor)."""
    new_lengths = (lengths.to(torch.float64) / factors.to(torch.float64)).round().long().clamp(min=1)
    out = x.new_zeros(x.shape[0], int(new_lengths.max()), x.shape[2])
    for b in range(x.shape[0]):
        n = int(new_lengths[b])
        out[b, :n] = resample_frames(x[b : b + 1], lengths[b : b + 1], n)[0]
    return out, new_lengths


def warp_mel(y: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """VTLP on log-mel [B, T, M]: output bin i reads the input at w(i), piecewise linear (Jaitly & Hinton).

    w(i) = factor · i up to a knee, then a straight line to the top bin, so the warp never
    reads past the spectrum; a factor of 1 is the identity.
    """
    top = float(y.shape[2] - 1)
    bins = torch.arange(y.shape[2], dtype=y.dtype)[None, :]
    alpha = factors.to(y.dtype)[:, None]
    knee = VTLP_KNEE * top * alpha.clamp(max=1.0) / alpha
    bent = top - (top - VTLP_KNEE * top * alpha.clamp(max=1.0)) / (top - knee) * (top - bins)
    position = torch.where(bins <= knee, alpha * bins, bent).clamp(0.0, top)  # [B, M]
    low = position.floor().long()
    high = (low + 1).clamp(max=int(top))
    weight = (position - low.to(y.dtype))[:, None, :]
    return _bins(y, low) * (1 - weight) + _bins(y, high) * weight


def _bins(y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``y[b, t, index[b, m]]`` for [B, T, M] ``y`` and a [B, M] bin index per utterance."""
    return y.gather(2, index[:, None, :].expand(-1, y.shape[1], -1))


def add_noise(power: torch.Tensor, lengths: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """Mel power [B, T, M] plus noise at ``snr_db`` [B] below each utterance's mean power over its valid frames.

    The noise is flat across mel bins, with the exponential spread of a Gaussian's power in each cell.
    """
    valid = frame_mask(lengths, power.shape[1]).unsqueeze(-1).to(power.dtype)
    signal = (power * valid).sum(dim=(1, 2)) / (lengths.to(power.dtype) * power.shape[2])
    level = signal / torch.pow(10.0, snr_db.to(power.dtype) / 10.0)
    cells = -torch.log1p(-torch.rand_like(power))  # Exp(1) by inversion: 3x faster than exponential_
    return power + level[:, None, None] * cells * valid


def _spans(count: int, width: int, extent: torch.Tensor, size: int) -> torch.Tensor:
    """[B, size] bool: ``count`` spans per row, each 0..width wide, inside the first ``extent[b]`` positions."""
    rows = extent.shape[0]
    widths = (torch.rand(rows, count) * (torch.minimum(extent, torch.tensor(width))[:, None] + 1)).floor().long()
    starts = (torch.rand(rows, count) * (extent[:, None] - widths + 1)).floor().long()
    position = torch.arange(size)[None, None, :]
    return ((position >= starts[..., None]) & (position < (starts + widths)[..., None])).any(dim=1)


def mask_time(x: torch.Tensor, lengths: torch.Tensor, count: int, width: int) -> torch.Tensor:
    """SpecAugment time masks: whole frames of each span set to the utterance's mean frame (0 once normalised)."""
    masked = _spans(count, width, lengths, x.shape[1]).unsqueeze(-1)
    return torch.where(masked, _mean_frame(x, lengths).expand_as(x), x)


def mask_freq(y: torch.Tensor, lengths: torch.Tensor, count: int, width: int) -> torch.Tensor:
    """SpecAugment frequency masks on log-mel [B, T, M]: each masked bin flattened to its mean over valid frames."""
    masked = _spans(count, width, torch.full_like(lengths, y.shape[2]), y.shape[2]).unsqueeze(1)
    valid = frame_mask(lengths, y.shape[1]).unsqueeze(-1).to(y.dtype)
    return torch.where(masked, _mean_frame(y, lengths).expand_as(y), y) * valid


def _mean_frame(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """[B, 1, F]: each utterance's mean frame over its valid (unpadded) frames."""
    valid = frame_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)
    return (x * valid).sum(dim=1, keepdim=True) / lengths.clamp(min=1)[:, None, None].to(x.dtype)


def check_config(cfg: AugmentConfig, features: FeatureConfig) -> None:
    """Refuse settings that cannot be honoured, naming the field, before training starts."""
    counts = {"time_masks": cfg.time_masks, "time_mask_width": cfg.time_mask_width,
              "freq_masks": cfg.freq_masks, "freq_mask_width": cfg.freq_mask_width, "gain_db": cfg.gain_db}
    negative = [k for k, v in counts.items() if v < 0]
    if negative:
        raise ConfigError(f"augment.{negative[0]} = {counts[negative[0]]}; it must not be negative")
    for name in ("speed", "vtlp"):
        if not 0 <= getattr(cfg, name) < 1:
            raise ConfigError(f"augment.{name} = {getattr(cfg, name)}; expected a fraction in [0, 1)")
    if cfg.noise_snr_db and (len(cfg.noise_snr_db) != 2 or cfg.noise_snr_db[0] > cfg.noise_snr_db[1]):
        raise ConfigError(f"augment.noise_snr_db = {list(cfg.noise_snr_db)}; expected [low, high] dB, or [] for off")
    spectral = [k for k in ("freq_masks", "vtlp", "noise_snr_db") if getattr(cfg, k)]
    if spectral and features.kind == "mfcc" and features.n_mfcc < features.n_mels:
        raise ConfigError(
            f"augment.{spectral[0]} works on the mel spectrum, but the prepared MFCC keep {features.n_mfcc} of "
            f"{features.n_mels} DCT coefficients, so the spectrum cannot be recovered; prepare with "
            f"features.n_mfcc = features.n_mels, or features.kind = \"logmel\""
        )


class Augmenter:
    """Applies the switched-on augmentations to one training batch; never used for evaluation."""

    def __init__(self, cfg: AugmentConfig, features: FeatureConfig):
        check_config(cfg, features)
        self.cfg = cfg
        self.domain = LogMel(features)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Speed, then VTLP and noise (the voice and the room), gain, and SpecAugment's masks last.

        Computed in the batch's dtype (float32 in training): the round trip's ~1e-4 dB error is
        far below any perturbation here, and float64 made augmented epochs a third dearer.
        """
        cfg, rows = self.cfg, x.shape[0]
        if cfg.speed:
            x, lengths = speed_perturb(x, lengths, _uniform(rows, 1 - cfg.speed, 1 + cfg.speed))
        if cfg.vtlp or cfg.noise_snr_db or cfg.freq_masks:
            y = self.domain.to_logmel(x)
            if cfg.vtlp:
                y = warp_mel(y, _uniform(rows, 1 - cfg.vtlp, 1 + cfg.vtlp))
            if cfg.noise_snr_db:
                power = add_noise(self.domain.to_power(y), lengths, _uniform(rows, *cfg.noise_snr_db))
                y = self.domain.from_power(power)
            if cfg.freq_masks:
                y = mask_freq(y, lengths, cfg.freq_masks, cfg.freq_mask_width)
            x = self.domain.from_logmel(y)
        if cfg.gain_db:
            x = self.domain.gain(x, _uniform(rows, -cfg.gain_db, cfg.gain_db))
        if cfg.time_masks:
            x = mask_time(x, lengths, cfg.time_masks, cfg.time_mask_width)
        return x * frame_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype), lengths
