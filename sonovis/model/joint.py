"""The joint embedding model: speech encoder, image projection, optional text encoder and CMD head.

Design choices that are not obvious from the code:

* Speech input is normalised per utterance over its valid frames (fixed mean/variance, then
  a learned per-feature affine): no batch statistics, so train and eval behave alike and
  padding never changes a result. The convolutions use LayerNorm over channels for the
  same reason, and padded positions are re-zeroed after every layer. ``model.utterance_norm
  = false`` skips the fixed normalisation (train and eval alike).
* CLAP long audio (``crop_frames > 0``): an utterance longer than the crop is seen twice, as
  a crop (random in training, centred in eval) and as a global view of the *whole*
  utterance resampled to ``crop_frames``; the two pooled vectors are averaged. Nothing is cut.
* Cross-modal denoising (``cmd_weight > 0``, training only): a fraction of the frames of each
  utterance's (local) view is zeroed before the encoder, and a head rebuilds them from the
  encoder states cross-attending over the image's 7x7 grid. The contrastive losses use this
  same masked pass: one encoder pass per step, and the masking doubles as time-masking
  augmentation (like dropout, it is off at inference). ``encode_speech`` never masks.
* Voice pairs (``voice_pair_weight > 0``, training only): a paired batch holds each caption twice,
  spoken by two voices; besides every utterance's image loss, a speech-speech InfoNCE asks each
  rendition to find its partner among the other voice's renditions. Content is then the only
  thing two renditions share, so whatever identifies the voice stops paying off.
* Voice adversary (``voice_adversary_weight > 0``, training only): a small head names each
  utterance's training voice group from its embedding; between them a gradient reversal layer
  hands the encoder the negated, weighted gradient, so it learns embeddings the head cannot
  name. The head is trained at full rate, so it stays a strong opponent.
* Phonetic supervision (``ctc_weight > 0``, training only): a CTC head reads the same frame states
  the pooling reads and learns the caption's phones. It needs whole utterances, so it cannot be
  combined with CLAP crops. A model built with ``phones = 0`` (to evaluate or serve) has no head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sonovis.config import ModelConfig
from sonovis.errors import ConfigError
from sonovis.model.batch import Batch
from sonovis.model.encoders import (
    DenoisingHead,
    PhoneHead,
    ReverseGradient,
    SpeechEncoder,
    image_projection,
)
from sonovis.model.frames import frame_mask, resample_frames, take_frames
from sonovis.model.loss import contrastive_loss, masked_reconstruction_loss, phone_ctc_loss
from sonovis.model.text import TextEncoder

PAIRS = ("speech-image", "speech-text", "text-image")


MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: the temperature never drops below 0.01


def check_config(cfg: ModelConfig, grid_dim: int, vocab_size: int) -> None:
    """Refuse settings the model cannot honour, naming the field, before any weight is built."""
    choices = {"rnn": ("gru", "lstm", "none"), "pooling": ("attention", "mean"), "image_proj": ("linear", "mlp")}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"model.{name} = {getattr(cfg, name)!r}; expected one of {list(allowed)}")
    unknown = [p for p in cfg.pairs if p not in PAIRS]
    if unknown or not cfg.pairs or len(set(cfg.pairs)) != len(cfg.pairs):
        raise ConfigError(f"model.pairs = {list(cfg.pairs)}; expected distinct entries of {list(PAIRS)}")
    if any("text" in p for p in cfg.pairs) and vocab_size == 0:
        raise ConfigError(f"model.pairs = {list(cfg.pairs)} needs caption text, but no vocabulary was given")
    if cfg.ctc_weight > 0 and cfg.crop_frames:
        raise ConfigError("model.ctc_weight > 0 needs whole utterances; it cannot be combined with model.crop_frames")
    for name in ("voice_pair_weight", "voice_adversary_weight", "ctc_weight"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"model.{name} = {getattr(cfg, name)}; it must not be negative")
    if cfg.cmd_weight < 0 or (cfg.cmd_weight > 0 and grid_dim == 0):
        raise ConfigError("model.cmd_weight > 0 needs image grid features (grid_dim > 0); it must not be negative")
    if not 0 < cfg.cmd_mask_ratio < 1:
        raise ConfigError(f"model.cmd_mask_ratio = {cfg.cmd_mask_ratio}; expected a fraction in (0, 1)")
    if cfg.temperature < 0.01:
        raise ConfigError(f"model.temperature = {cfg.temperature}; expected >= 0.01")
    if cfg.crop_frames < 0 or cfg.conv_layers < 0 or not 0 <= cfg.dropout < 1:
        raise ConfigError("model.crop_frames and model.conv_layers must be >= 0, model.dropout in [0, 1)")


class SonovisModel(nn.Module):
    """Speech, image (and caption text) into one L2-normalised space, trained with InfoNCE."""

    def __init__(self, cfg: ModelConfig, feat_dim: int, image_dim: int, grid_dim: int = 0, vocab_size: int = 0,
                 voice_groups: int = 0, phones: int = 0):
        super().__init__()
        check_config(cfg, grid_dim, vocab_size)
        if cfg.voice_adversary_weight > 0 and voice_groups < 2:
            raise ConfigError("model.voice_adversary_weight > 0 needs at least two training voice groups to tell apart")
        self.cfg = cfg
        self.speech = SpeechEncoder(cfg, feat_dim)
        self.image = image_projection(cfg.image_proj, image_dim, cfg.embed_dim, cfg.dropout)
        logit_scale = torch.tensor(math.log(1.0 / cfg.temperature))
        if cfg.learnable_temperature:
            self.logit_scale = nn.Parameter(logit_scale)
        else:
            self.register_buffer("logit_scale", logit_scale)
        self.text: TextEncoder | None = None
        if any("text" in p for p in cfg.pairs):
            self.text = TextEncoder(vocab_size, cfg.text_dim, cfg.embed_dim, cfg.dropout)
        self.cmd: DenoisingHead | None = None
        if cfg.cmd_weight > 0:
            self.cmd = DenoisingHead(self.speech.state_dim, grid_dim, self.speech.input_dim, cfg.embed_dim, self.speech.subsampling)
        self.adversary: nn.Module | None = None
        if cfg.voice_adversary_weight > 0:
            self.adversary = nn.Sequential(nn.Linear(cfg.embed_dim, cfg.embed_dim), nn.GELU(),
                                           nn.Linear(cfg.embed_dim, voice_groups))
        self.ctc: PhoneHead | None = None
        if cfg.ctc_weight > 0 and phones > 0:
            self.ctc = PhoneHead(self.speech.state_dim, phones, self.speech.subsampling)

    @property
    def temperature(self) -> float:
        return math.exp(-float(self.scale().detach()))

    def scale(self) -> torch.Tensor:
        """log(1/T) as used in the losses; clamped here so no optimiser step can push T below 0.01."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE)

    def encode_image(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(pooled), dim=-1)

    def encode_text(self, text: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.text is None:
            raise ConfigError(f"model.pairs = {list(self.cfg.pairs)} has no text encoder")
        return self.text(text, lengths)

    def encode_speech(self, speech: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, T, F] zero-padded MFCC + lengths -> [B, embed_dim]; never masked (inference path)."""
        views, view_lengths, long_rows = self._views(self.speech.normalise(speech, lengths), lengths)
        states, state_lengths = self.speech.frames(views, view_lengths)
        return self._fuse(states, state_lengths, long_rows, speech.shape[0])

    def losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One loss per active pair, ``"voice-pair"`` for a paired batch, ``"cmd"`` when denoising is on
        and training, ``"voice-adversary"`` (the head's cross-entropy) and ``"ctc"`` when those are, and
        their weighted ``"total"``."""
        denoise = self.cmd is not None and self.training
        if not denoise and not any("speech" in pair for pair in self.cfg.pairs):
            out = self._pair_losses(None, batch)  # text-image only: a speech pass would train nothing
            return {**out, "total": sum(out.values())}
        size = batch.speech.shape[0]
        views, view_lengths, long_rows = self._views(
            self.speech.normalise(batch.speech, batch.speech_lengths), batch.speech_lengths
        )
        if denoise:
            if batch.image_grid is None:
                raise ConfigError("model.cmd_weight > 0 needs batches with image grid features")
            clean = views[:size]
            masked = self._masked_frames(view_lengths[:size], views.shape[1])
            views = torch.cat([clean.masked_fill(masked.unsqueeze(-1), 0.0), views[size:]])
        states, state_lengths = self.speech.frames(views, view_lengths)
        speech = self._fuse(states, state_lengths, long_rows, size)
        out = self._pair_losses(speech, batch)
        total = sum(out.values())
        if batch.paired and self.cfg.voice_pair_weight > 0:
            half = size // 2
            partner = torch.arange(half, device=speech.device)
            out["voice-pair"] = contrastive_loss(speech[:half], speech[half:], partner, self.scale())
            total = total + self.cfg.voice_pair_weight * out["voice-pair"]
        if self.adversary is not None and self.training:
            if batch.voice_index is None:
                raise ConfigError("model.voice_adversary_weight > 0 needs batches with voice_index")
            logits = self.adversary(ReverseGradient.apply(speech, self.cfg.voice_adversary_weight))
            out["voice-adversary"] = F.cross_entropy(logits, batch.voice_index)
            total = total + out["voice-adversary"]  # the head at full rate; the encoder sees -weight x
        if self.ctc is not None and self.training:
            if batch.phones is None or batch.phone_lengths is None:
                raise ConfigError("model.ctc_weight > 0 needs batches with phones")
            log_probs, ctc_lengths = self.ctc(states[:size], state_lengths[:size])
            out["ctc"] = phone_ctc_loss(log_probs, ctc_lengths, batch.phones, batch.phone_lengths)
            total = total + self.cfg.ctc_weight * out["ctc"]
        if denoise:
            predicted = self.cmd(states[:size], views.shape[1], batch.image_grid, batch.image_index)
            out["cmd"] = masked_reconstruction_loss(predicted, clean, masked)
            total = total + self.cfg.cmd_weight * out["cmd"]
        out["total"] = total
        return out

    def _pair_losses(self, speech: torch.Tensor | None, batch: Batch) -> dict[str, torch.Tensor]:
        """InfoNCE for each configured pair; each utterance speaks one caption, both point into the images.

        A paired batch speaks each caption twice, so its text is encoded once (the first half's rows):
        a duplicate caption would be a false negative of its own utterances.
        """
        embeddings = {"speech": speech, "image": self.encode_image(batch.image_pooled)}
        rows = batch.image_index.shape[0]
        captions = rows // 2 if batch.paired else rows
        if self.text is not None:
            if batch.text is None or batch.text_lengths is None:
                raise ConfigError(f"model.pairs = {list(self.cfg.pairs)} needs batches with caption text")
            embeddings["text"] = self.encode_text(batch.text[:captions], batch.text_lengths[:captions])
        partners = {"speech-image": batch.image_index, "text-image": batch.image_index[:captions],
                    "speech-text": torch.arange(rows, device=batch.image_index.device) % captions}
        out = {}
        for pair in self.cfg.pairs:
            first, second = pair.split("-")
            out[pair] = contrastive_loss(embeddings[first], embeddings[second], partners[pair], self.scale())
        return out

    def _views(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each utterance's local view (itself, or a crop), then a global view of each long one.

        Returns the views [B + G, T, F], their lengths, and the G rows that are long.
        """
        crop = self.cfg.crop_frames
        long_rows = torch.nonzero(lengths > crop).squeeze(1) if crop else lengths.new_zeros(0)
        if long_rows.numel() == 0:
            return x, lengths, long_rows
        excess = (lengths - crop).clamp(min=0)
        if self.training:
            starts = torch.minimum((torch.rand(lengths.shape, device=x.device) * (excess + 1)).long(), excess)
        else:
            starts = excess // 2
        local_lengths = lengths.clamp(max=crop)
        index = (starts[:, None] + torch.arange(crop, device=x.device)[None, :]).clamp(max=x.shape[1] - 1)
        local = take_frames(x, index) * frame_mask(local_lengths, crop).unsqueeze(-1)
        overview = resample_frames(x[long_rows], lengths[long_rows], crop)
        view_lengths = torch.cat([local_lengths, torch.full_like(long_rows, crop)])
        return torch.cat([local, overview]), view_lengths, long_rows

    def _fuse(self, states: torch.Tensor, lengths: torch.Tensor, long_rows: torch.Tensor, size: int) -> torch.Tensor:
        """Pool every view, average each long utterance's local and global view, project."""
        pooled = self.speech.pool(states, lengths)
        halve_long = torch.ones(size, 1, device=pooled.device, dtype=pooled.dtype).index_fill(0, long_rows, 0.5)
        fused = pooled[:size].index_add(0, long_rows, pooled[size:]) * halve_long
        return self.speech.project(fused)

    def _masked_frames(self, lengths: torch.Tensor, width: int) -> torch.Tensor:
        """[B, width] bool: round(cmd_mask_ratio * length) random valid frames per utterance (at least one)."""
        count = (lengths.to(torch.float32) * self.cfg.cmd_mask_ratio).round().long().clamp(min=1)
        noise = torch.rand(lengths.shape[0], width, device=lengths.device)
        noise = noise.masked_fill(~frame_mask(lengths, width), 2.0)  # padding sorts last, never masked
        return noise.argsort(dim=1).argsort(dim=1) < count[:, None]
