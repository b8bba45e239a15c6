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
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sonovis.batches import Batch
from sonovis.config import ModelConfig
from sonovis.errors import ConfigError
from sonovis.loss import contrastive_loss, masked_reconstruction_loss
from sonovis.text import TextEncoder

PAIRS = ("speech-image", "speech-text", "text-image")
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: the temperature never drops below 0.01
CONV_KERNEL, CONV_STRIDE = 5, 2


def frame_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] bool, true on each sequence's first ``lengths[b]`` positions."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


class Recurrent(nn.Module):
    """Stacked GRU/LSTM over zero-padded batches, without packing: padding never enters a real state.

    The forward direction meets padding only after each sequence's last frame. The backward
    direction reads each sequence reversed *within its length* (padding stays at the end), so
    it too starts on the last real frame. Packing computes the same, but on one CPU thread its
    backward pass is ~3x slower (every time step scatters into a full-size zero gradient).
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, layers: int, bidirectional: bool,
                 dropout: float):
        super().__init__()
        rnn_class = nn.GRU if kind == "gru" else nn.LSTM
        self.output_size = hidden_size * (2 if bidirectional else 1)
        sizes = [input_size] + [self.output_size] * (layers - 1)
        self.forward_layers = nn.ModuleList(rnn_class(size, hidden_size, batch_first=True) for size in sizes)
        self.backward_layers = nn.ModuleList(
            rnn_class(size, hidden_size, batch_first=True) for size in (sizes if bidirectional else [])
        )
        self.dropout = nn.Dropout(dropout)  # between layers, as nn.GRU's own dropout

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, T, input_size] -> [B, T, output_size]; padded positions come out zero."""
        valid = frame_mask(lengths, h.shape[1])
        t = torch.arange(h.shape[1], device=h.device)[None, :]
        reverse = torch.where(valid, lengths[:, None] - 1 - t, t)  # its own inverse
        for layer, forward in enumerate(self.forward_layers):
            if layer > 0:
                h = self.dropout(h)
            states = forward(h)[0]
            if self.backward_layers:
                backward = self.backward_layers[layer](take_frames(h, reverse))[0]
                states = torch.cat([states, take_frames(backward, reverse)], dim=-1)
            h = states
        return h * valid.unsqueeze(-1)


class SpeechEncoder(nn.Module):
    """MFCC frames -> strided convolutions -> optional (bi)GRU/LSTM -> masked pooling -> unit vector."""

    def __init__(self, cfg: ModelConfig, feat_dim: int):
        super().__init__()
        if not 0 <= cfg.n_cepstra <= feat_dim:
            raise ConfigError(f"model.n_cepstra = {cfg.n_cepstra}; expected 0 (all) to the {feat_dim} prepared")
        self.utterance_norm = cfg.utterance_norm
        self.input_dim = cfg.n_cepstra or feat_dim
        self.input_scale = nn.Parameter(torch.ones(self.input_dim))
        self.input_shift = nn.Parameter(torch.zeros(self.input_dim))
        widths = [self.input_dim] + [cfg.conv_channels] * cfg.conv_layers
        self.convs = nn.ModuleList(
            nn.Conv1d(i, o, CONV_KERNEL, stride=CONV_STRIDE, padding=CONV_KERNEL // 2)
            for i, o in zip(widths, widths[1:])
        )
        self.norms = nn.ModuleList(nn.LayerNorm(o) for o in widths[1:])
        self.rnn: Recurrent | None = None
        self.state_dim = widths[-1]
        if cfg.rnn != "none":
            self.rnn = Recurrent(cfg.rnn, widths[-1], cfg.hidden_size, cfg.rnn_layers, cfg.bidirectional, cfg.dropout)
            self.state_dim = self.rnn.output_size
        self.attention = nn.Linear(self.state_dim, 1) if cfg.pooling == "attention" else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.proj = nn.Linear(self.state_dim, cfg.embed_dim)

    @property
    def subsampling(self) -> int:
        return CONV_STRIDE ** len(self.convs)

    def normalise(self, speech: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The first ``input_dim`` features, each at zero mean / unit variance over valid frames; padding stays 0.

        Parameter-free on purpose: it is also the space the denoising loss reconstructs in, so
        its target cannot drift, and MFCC c0's large scale does not dominate the error. Applied
        in training and evaluation alike; with ``utterance_norm`` off the frames pass unscaled.
        """
        speech = speech[..., : self.input_dim]
        if not self.utterance_norm:
            return speech
        valid = frame_mask(lengths, speech.shape[1]).unsqueeze(-1).to(speech.dtype)
        count = lengths.clamp(min=1)[:, None].to(speech.dtype)
        mean = (speech * valid).sum(dim=1) / count
        centred = (speech - mean[:, None]) * valid
        std = (centred.pow(2).sum(dim=1) / count + 1e-5).sqrt()
        return centred / std[:, None]

    def frames(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised [B, T, F] -> states [B, T', state_dim] and their lengths (each conv: ceil(L / 2))."""
        h = (x * self.input_scale + self.input_shift) * frame_mask(lengths, x.shape[1]).unsqueeze(-1)
        for conv, norm in zip(self.convs, self.norms):
            h = conv(h.transpose(1, 2)).transpose(1, 2)
            lengths = (lengths - 1) // CONV_STRIDE + 1
            h = F.gelu(norm(h)) * frame_mask(lengths, h.shape[1]).unsqueeze(-1)
        if self.rnn is not None:
            h = self.rnn(h, lengths)
        return h, lengths

    def pool(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Attention-weighted or plain mean over valid states only: [B, T', D] -> [B, D]."""
        valid = frame_mask(lengths, states.shape[1])
        if self.attention is not None:
            scores = self.attention(states).squeeze(-1).masked_fill(~valid, float("-inf"))
            return (scores.softmax(dim=1).unsqueeze(-1) * states).sum(dim=1)
        weights = valid.to(states.dtype) / lengths.clamp(min=1)[:, None].to(states.dtype)
        return (weights.unsqueeze(-1) * states).sum(dim=1)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.dropout(pooled)), dim=-1)


class DenoisingHead(nn.Module):
    """Rebuilds masked MFCC frames from speech states that cross-attend over the image's 7x7 grid."""

    def __init__(self, state_dim: int, grid_dim: int, feat_dim: int, width: int, subsampling: int):
        super().__init__()
        self.subsampling = subsampling
        self.query = nn.Linear(state_dim, width)
        self.phase = nn.Embedding(subsampling, width)  # which of the frames under one state is rebuilt
        self.memory = nn.Sequential(nn.LayerNorm(grid_dim), nn.Linear(grid_dim, width))
        self.attention = nn.MultiheadAttention(width, 4 if width % 4 == 0 else 1, batch_first=True)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, feat_dim))

    def forward(self, states: torch.Tensor, frames: int, grid: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
        """``states`` [B, T', D] at the subsampled rate, ``grid`` [U, 49, Dg] -> predicted frames [B, frames, F].

        Attention runs at the state rate and is then upsampled (nearest) to frame rate: queries of
        a nearest-upsampled sequence are copies, so this equals attending at frame rate, at a
        quarter of the cost. The phase embedding then tells apart the frames under one state.
        """
        t = torch.arange(frames, device=states.device)
        nearest_state = (t // self.subsampling).clamp(max=states.shape[1] - 1)
        query = self.query(states)
        memory = self.memory(grid)[image_index]
        attended, _ = self.attention(query, memory, memory, need_weights=False)
        return self.out((query + attended)[:, nearest_state] + self.phase(t % self.subsampling))


class ReverseGradient(torch.autograd.Function):
    """Identity going forward; going back, the gradient is negated and scaled (DANN's reversal layer)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def image_projection(kind: str, image_dim: int, embed_dim: int, dropout: float) -> nn.Module:
    """The frozen backbone's pooled vector -> shared space (LayerNorm first: backbones differ in scale)."""
    if kind == "linear":
        return nn.Sequential(nn.LayerNorm(image_dim), nn.Linear(image_dim, embed_dim))
    hidden = 2 * embed_dim
    return nn.Sequential(
        nn.LayerNorm(image_dim), nn.Linear(image_dim, hidden), nn.GELU(), nn.Dropout(dropout),
        nn.Linear(hidden, embed_dim),
    )


def resample_frames(x: torch.Tensor, lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear interpolation of each sequence's valid frames onto ``frames`` evenly spaced points."""
    last = (lengths - 1)[:, None]
    position = torch.linspace(0.0, 1.0, frames, device=x.device)[None, :] * last.to(x.dtype)
    low = position.floor().long()
    high = (low + 1).clamp(max=last)
    weight = (position - low.to(x.dtype)).unsqueeze(-1)
    return take_frames(x, low) * (1 - weight) + take_frames(x, high) * weight


def take_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, t]]`` for [B, T, F] ``x`` and [B, T'] ``index``."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


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
    for name in ("voice_pair_weight", "voice_adversary_weight"):
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
                 voice_groups: int = 0):
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
        and training, ``"voice-adversary"`` (the head's cross-entropy) when that is, and their ``"total"``."""
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
