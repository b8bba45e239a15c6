"""The speech encoder, the image projection and the denoising (CMD) head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sonovis.config import ModelConfig
from sonovis.errors import ConfigError
from sonovis.model.frames import frame_mask, take_frames

CONV_KERNEL, CONV_STRIDE = 5, 2


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
        # Under bf16 autocast an LSTM runs oneDNN's bf16 kernel; a GRU has none on CPU, and its per-step
        # matrix products in bf16 make a training step ~1.3x dearer, so it stays float32.
        self.float32_only = kind == "gru"
        self.output_size = hidden_size * (2 if bidirectional else 1)
        sizes = [input_size] + [self.output_size] * (layers - 1)
        self.forward_layers = nn.ModuleList(rnn_class(size, hidden_size, batch_first=True) for size in sizes)
        self.backward_layers = nn.ModuleList(
            rnn_class(size, hidden_size, batch_first=True) for size in (sizes if bidirectional else [])
        )
        self.dropout = nn.Dropout(dropout)  # between layers, as nn.GRU's own dropout

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, T, input_size] -> [B, T, output_size]; padded positions come out zero."""
        if self.float32_only and torch.is_autocast_enabled(h.device.type):
            with torch.autocast(h.device.type, enabled=False):
                return self._layers(h.float(), lengths)
        return self._layers(h, lengths)

    def _layers(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
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


class PhoneHead(nn.Module):
    """Frame states -> per-frame phone log-probabilities for CTC, ``upsample`` outputs per state.

    The states run at 12.5 Hz with three strided convolutions, about the rate of fast speech's phones
    (espeak-ng at 210 words a minute says ~16 a second), and CTC needs more outputs than labels. Each
    state therefore predicts ``upsample`` consecutive outputs (up to 50 Hz), as a linear layer of
    ``upsample`` times the classes: the encoder itself and the inference path stay unchanged.
    """

    BLANK = 0

    def __init__(self, state_dim: int, phones: int, subsampling: int):
        super().__init__()
        self.upsample = max(1, subsampling // 2)
        self.classes = phones + 1  # + CTC's blank, class 0
        self.out = nn.Linear(state_dim, self.upsample * self.classes)

    def forward(self, states: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T', D] states -> [B, T' * upsample, phones + 1] log-probabilities and their lengths."""
        b, t, _ = states.shape
        logits = self.out(states).view(b, t * self.upsample, self.classes)
        return logits.log_softmax(dim=-1), lengths * self.upsample


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
