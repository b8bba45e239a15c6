"""The model on small synthetic batches: it learns, ignores padding, and every optional part trains."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sonovis.config import ModelConfig
from sonovis.errors import ConfigError
from sonovis.model.batch import Batch
from sonovis.model.encoders import Recurrent, ReverseGradient
from sonovis.model.joint import SonovisModel
from sonovis.model.text import UNK, Vocabulary, tokenize
from sonovis.train.batches import pad_frames, pad_tokens
from sonovis.train.metrics import retrieval_metrics

FEAT, IMAGE, GRID, VOCAB = 8, 16, 12, 30
TINY = ModelConfig(conv_channels=16, hidden_size=16, embed_dim=16, text_dim=16, dropout=0.0)


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture
def flickr8k() -> Path:
    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flickr8k"
    if not (root / "captions.txt").is_file():
        pytest.fail(f"{root}: shared Flickr8k data not present")
    return root


def synthetic_batch(images: int = 16, per_image: int = 2, lengths: tuple[int, int] = (20, 60)) -> Batch:
    """Each image has a random pooled vector and a random 6-segment template; its utterances are the
    template stretched to different lengths plus noise, so they are image-specific but never identical."""
    generator = torch.Generator().manual_seed(0)
    templates = torch.randn(images, 6, FEAT, generator=generator)
    frames, tokens = [], []
    for utterance in range(images * per_image):
        image = utterance // per_image
        length = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=generator))
        segment = torch.arange(length) * 6 // length
        frames.append((templates[image][segment] + 0.3 * torch.randn(length, FEAT, generator=generator)).numpy())
        tokens.append(torch.randint(2, VOCAB, (3 + utterance % 5,), generator=generator).tolist())
    speech, speech_lengths = pad_frames(frames)
    text, text_lengths = pad_tokens(tokens)
    return Batch(
        speech=speech,
        speech_lengths=speech_lengths,
        image_index=torch.arange(images).repeat_interleave(per_image),
        image_pooled=torch.randn(images, IMAGE, generator=generator),
        image_grid=torch.randn(images, 49, GRID, generator=generator),
        text=text,
        text_lengths=text_lengths,
    )


def build(**changes) -> SonovisModel:
    return SonovisModel(replace(TINY, **changes), FEAT, IMAGE, grid_dim=GRID, vocab_size=VOCAB)


def train_step(model: SonovisModel, batch: Batch, lr: float = 1e-3) -> dict[str, torch.Tensor]:
    model.train()
    losses = model.losses(batch)
    model.zero_grad()
    losses["total"].backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= lr * parameter.grad
    return losses


def recalls(model: SonovisModel, batch: Batch) -> dict[str, dict[str, float]]:
    model.eval()
    with torch.no_grad():
        speech = model.encode_speech(batch.speech, batch.speech_lengths)
        return retrieval_metrics(speech, model.encode_image(batch.image_pooled), batch.image_index)


@pytest.mark.parametrize("rnn", ["gru", "none"])
def test_overfits_a_small_set_to_perfect_recall_both_ways(rnn: str) -> None:
    batch = synthetic_batch()
    model = build(rnn=rnn)
    assert recalls(model, batch)["s2i"]["r1"] < 50  # untrained: near chance (1 in 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(1, 301):
        model.train()
        loss = model.losses(batch)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 and recalls(model, batch)["s2i"]["r1"] == 100.0:
            break
    metrics = recalls(model, batch)
    assert metrics["s2i"]["r1"] == 100.0 and metrics["i2s"]["r1"] == 100.0, (step, metrics)


@pytest.mark.parametrize(("rnn", "pooling", "crop_frames"), [
    ("gru", "attention", 0), ("gru", "mean", 0), ("lstm", "attention", 0), ("none", "mean", 0),
    ("gru", "attention", 30),
])
def test_padding_never_changes_an_embedding(rnn: str, pooling: str, crop_frames: int) -> None:
    batch = synthetic_batch(images=4, per_image=2)
    model = build(rnn=rnn, pooling=pooling, crop_frames=crop_frames, rnn_layers=2).eval()
    with torch.no_grad():
        batched = model.encode_speech(batch.speech, batch.speech_lengths)
        padded = torch.cat([batch.speech, torch.zeros(8, 37, FEAT)], dim=1)
        assert torch.allclose(model.encode_speech(padded, batch.speech_lengths), batched, atol=1e-5)
        for row, length in enumerate(batch.speech_lengths.tolist()):
            alone = model.encode_speech(batch.speech[row : row + 1, :length], batch.speech_lengths[row : row + 1])
            assert torch.allclose(alone[0], batched[row], atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_unpacked_recurrence_equals_packed_on_real_frames(kind: str) -> None:
    """Reversing within each length must give exactly what pack_padded_sequence gives, padding or not."""
    recurrent = Recurrent(kind, FEAT, 6, layers=1, bidirectional=True, dropout=0.0)
    packed_rnn = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(FEAT, 6, batch_first=True, bidirectional=True)
    for name, value in recurrent.forward_layers[0].named_parameters():
        getattr(packed_rnn, name).data.copy_(value)
        getattr(packed_rnn, f"{name}_reverse").data.copy_(getattr(recurrent.backward_layers[0], name))
    batch = synthetic_batch(images=3, per_image=2)
    x, lengths = batch.speech, batch.speech_lengths
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        expected = torch.nn.utils.rnn.pad_packed_sequence(packed_rnn(packed)[0], batch_first=True)[0]
        assert torch.allclose(recurrent(x, lengths), expected, atol=1e-5)


def test_convolutions_track_lengths_exactly() -> None:
    for layers in (2, 4):
        encoder = build(rnn="none", conv_layers=layers).speech
        for length in range(1, 40):
            states, lengths = encoder.frames(torch.randn(1, length, FEAT), torch.tensor([length]))
            assert states.shape[1] == int(lengths[0]) == math.ceil(length / 2**layers)


def test_config_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="pairs"):
        build(pairs=("speech-image", "speech-audio"))
    with pytest.raises(ConfigError, match="vocabulary"):
        SonovisModel(replace(TINY, pairs=("speech-text",)), FEAT, IMAGE)
    with pytest.raises(ConfigError, match="grid"):
        SonovisModel(replace(TINY, cmd_weight=0.5), FEAT, IMAGE)
    with pytest.raises(ConfigError, match="rnn"):
        build(rnn="transformer")


def test_fixed_temperature_is_a_buffer_and_never_trains() -> None:
    model = build()
    assert model.temperature == pytest.approx(0.07)
    assert all(name != "logit_scale" for name, _ in model.named_parameters())
    train_step(model, synthetic_batch(), lr=10.0)
    assert model.temperature == pytest.approx(0.07)


def test_learnable_temperature_trains_and_never_drops_below_one_hundredth() -> None:
    model = build(learnable_temperature=True)
    batch = synthetic_batch()
    train_step(model, batch, lr=0.0)
    assert model.logit_scale.grad is not None and model.logit_scale.grad != 0
    optimizer = torch.optim.SGD([model.logit_scale], lr=1.0)
    model.logit_scale.grad = torch.tensor(-100.0)  # a step that pushes T far below 0.01
    optimizer.step()
    assert model.logit_scale.item() > math.log(100.0)
    assert model.temperature == pytest.approx(0.01)
    losses = train_step(model, batch, lr=0.0)
    assert torch.isfinite(losses["total"])
    assert model.logit_scale.grad == 0  # clamped: the loss cannot pull T lower still


def test_denoising_adds_its_weighted_loss_and_trains_its_head() -> None:
    batch = synthetic_batch()
    light, heavy = build(cmd_weight=0.1), build(cmd_weight=0.5)
    heavy.load_state_dict(light.state_dict())
    torch.manual_seed(1)
    light_losses = train_step(light, batch)
    torch.manual_seed(1)  # same frames masked in both
    heavy_losses = train_step(heavy, batch)
    assert light_losses["cmd"] > 0 and torch.isfinite(light_losses["total"])
    assert torch.equal(light_losses["cmd"], heavy_losses["cmd"])
    for losses, weight in ((light_losses, 0.1), (heavy_losses, 0.5)):
        assert losses["total"].item() == pytest.approx(losses["speech-image"].item() + weight * losses["cmd"].item())
    assert light.cmd.attention.in_proj_weight.grad.abs().sum() > 0
    assert light.speech.input_scale.grad.abs().sum() > 0
    assert build(cmd_weight=0.0).cmd is None


def test_denoising_masks_the_configured_share_of_real_frames_only() -> None:
    model = build(cmd_weight=0.5, cmd_mask_ratio=0.3)
    lengths = torch.tensor([10, 1, 37, 4])
    masked = model._masked_frames(lengths, 40)
    assert masked.sum(dim=1).tolist() == [3, 1, 11, 1]  # round(0.3 * length), at least one
    assert not (masked & ~(torch.arange(40)[None, :] < lengths[:, None])).any()  # never padding


def test_denoising_never_touches_inference() -> None:
    batch = synthetic_batch(images=4)
    with_cmd = build(cmd_weight=0.5)
    without = build(cmd_weight=0.0)
    missing, unexpected = without.load_state_dict(with_cmd.state_dict(), strict=False)
    assert not missing and unexpected and all(key.startswith("cmd.") for key in unexpected)
    with_cmd.eval()
    without.eval()
    with torch.no_grad():
        assert torch.equal(
            with_cmd.encode_speech(batch.speech, batch.speech_lengths),
            without.encode_speech(batch.speech, batch.speech_lengths),
        )
        assert set(with_cmd.losses(batch)) == {"speech-image", "total"}  # eval: no masking, no cmd term
    with pytest.raises(ConfigError, match="grid"):
        train_step(with_cmd, replace(batch, image_grid=None))


def test_tri_modal_adds_a_loss_per_pair_and_trains_the_text_encoder() -> None:
    batch = synthetic_batch()
    model = build(pairs=("speech-image", "speech-text", "text-image"))
    losses = train_step(model, batch)
    assert set(losses) == {"speech-image", "speech-text", "text-image", "total"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    assert losses["total"].item() == pytest.approx(sum(losses[p].item() for p in model.cfg.pairs))
    assert model.text.embedding.weight.grad.abs().sum() > 0
    assert build().text is None
    with pytest.raises(ConfigError, match="caption text"):
        model.losses(replace(batch, text=None))


def test_text_only_pair_still_embeds_text() -> None:
    model = build(pairs=("text-image",)).eval()
    batch = synthetic_batch(images=4)
    with torch.no_grad():
        text = model.encode_text(batch.text, batch.text_lengths)
        padded = torch.cat([batch.text, torch.zeros(8, 5, dtype=torch.long)], dim=1)
        assert torch.allclose(model.encode_text(padded, batch.text_lengths), text, atol=1e-6)
    assert text.shape == (8, TINY.embed_dim)
    assert torch.allclose(text.norm(dim=1), torch.ones(8))
    losses = train_step(model, batch)
    assert set(losses) == {"text-image", "total"}
    assert all(p.grad is None for p in model.speech.parameters())  # no speech pass at all


def test_long_utterances_fuse_a_crop_with_the_whole_utterance() -> None:
    batch = synthetic_batch(images=4, per_image=2, lengths=(20, 100))
    lengths = batch.speech_lengths
    plain = build()
    cropped = build(crop_frames=40)
    cropped.load_state_dict(plain.state_dict())
    short = lengths <= 40
    assert short.any() and (~short).any()
    cropped.eval()
    plain.eval()
    with torch.no_grad():
        full = plain.encode_speech(batch.speech, lengths)
        fused = cropped.encode_speech(batch.speech, lengths)
        assert torch.allclose(fused[short], full[short], atol=1e-6)  # short ones unchanged
        assert torch.equal(fused, cropped.encode_speech(batch.speech, lengths))  # eval: centre crop
        longest, length = int(lengths.argmax()), int(lengths.max())
        tail = slice(length - 15, length)
        assert (length - 40) // 2 + 40 <= tail.start  # the tail lies outside the centre crop
        edited = batch.speech.clone()
        edited[longest, tail] = edited[longest, tail].flip(0)  # same frames, so the same mean and variance
        changed = cropped.encode_speech(edited, lengths)
        assert not torch.allclose(changed[longest], fused[longest], atol=1e-4)  # the global view saw it
    cropped.train()
    with torch.no_grad():
        first, second = (cropped.encode_speech(batch.speech, lengths) for _ in range(2))
    assert not torch.allclose(first[~short], second[~short])  # training: random crops
    assert torch.allclose(first[short], second[short], atol=1e-6)
    assert torch.isfinite(train_step(cropped, batch)["total"])


def test_vocabulary_from_real_train_captions(flickr8k: Path) -> None:
    train = set((flickr8k / "splits" / "train.txt").read_text().split())
    with open(flickr8k / "captions.txt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_captions = [r["caption"] for r in rows if r["image"] in train]
    dev_captions = [r["caption"] for r in rows if r["image"] not in train]
    vocab = Vocabulary.build(train_captions)
    assert 5000 < len(vocab) < 10000
    assert vocab.encode("A dog runs .")[:2] == [vocab.encode("a")[0], vocab.encode("dog")[0]]
    assert all(UNK not in vocab.encode(c) for c in train_captions[:500])
    unseen = sorted({w for c in dev_captions for w in tokenize(c)} - set(vocab.words))
    assert unseen and vocab.encode(f"a {unseen[0]}") == [vocab.encode("a")[0], UNK]
    assert min(i for c in train_captions[:500] for i in vocab.encode(c)) >= 2  # 0 and 1 are reserved
    restored = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert len(restored) == len(vocab) and restored.encode(dev_captions[0]) == vocab.encode(dev_captions[0])
    assert len(Vocabulary.build(train_captions, min_count=5)) < len(vocab)
    words = [vocab.encode(w)[0] for w in ("the", "man's", "hat")]
    assert vocab.encode("The Man's hat .") == vocab.encode("the man's HAT") == words


def test_voice_pairs_add_a_weighted_speech_speech_loss_and_encode_each_caption_once() -> None:
    first = synthetic_batch(images=8, per_image=1)
    second = synthetic_batch(images=8, per_image=1, lengths=(30, 70))  # the same captions, spoken otherwise
    speech, lengths = pad_frames([f[:n].numpy() for b in (first, second) for f, n in zip(b.speech, b.speech_lengths)])
    paired = replace(first, speech=speech, speech_lengths=lengths, image_index=first.image_index.repeat(2),
                     text=first.text.repeat(2, 1), text_lengths=first.text_lengths.repeat(2), paired=True)
    model = build(pairs=("speech-image", "speech-text", "text-image"), voice_pair_weight=0.5).eval()
    losses = model.losses(paired)
    assert set(losses) == {"speech-image", "speech-text", "text-image", "voice-pair", "total"}
    assert losses["total"].item() == pytest.approx(
        sum(losses[p].item() for p in ("speech-image", "speech-text", "text-image")) + 0.5 * losses["voice-pair"].item())
    assert losses["text-image"].item() == pytest.approx(model.losses(first)["text-image"].item())  # text once
    assert "voice-pair" not in model.losses(replace(paired, paired=False))
    before = losses["voice-pair"].item()
    for _ in range(30):
        train_step(model, paired)
    assert model.eval().losses(paired)["voice-pair"].item() < before


def test_n_cepstra_reads_only_the_first_coefficients_everywhere() -> None:
    batch = synthetic_batch(images=4)
    model = build(n_cepstra=3, cmd_weight=0.5).eval()
    fine_detail = batch.speech.clone()
    fine_detail[..., 3:] += torch.randn_like(fine_detail[..., 3:]) * (batch.speech[..., 3:] != 0)  # padding stays 0
    embed = lambda speech: model.encode_speech(speech, batch.speech_lengths)  # noqa: E731
    assert torch.equal(embed(batch.speech), embed(fine_detail))
    assert model.speech.convs[0].in_channels == 3 and model.cmd.out[-1].out_features == 3  # rebuilds 3 too
    assert torch.isfinite(train_step(model, batch)["cmd"])
    whole = build().eval()
    assert not torch.equal(whole.encode_speech(batch.speech, batch.speech_lengths),
                           whole.encode_speech(fine_detail, batch.speech_lengths))
    with pytest.raises(ConfigError, match="n_cepstra"):
        build(n_cepstra=FEAT + 1)


def test_reverse_gradient_is_identity_forward_and_negated_scaled_backward() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    y = ReverseGradient.apply(x, 0.3)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.3 * torch.arange(3.0).expand(5, 3))


def test_voice_adversary_trains_its_head_and_hands_the_encoder_the_reversed_gradient() -> None:
    batch = replace(synthetic_batch(), voice_index=torch.arange(32) % 4)
    model = SonovisModel(replace(TINY, voice_adversary_weight=0.5), FEAT, IMAGE, voice_groups=4).train()
    losses = model.losses(batch)
    assert set(losses) == {"speech-image", "voice-adversary", "total"}
    assert losses["total"].item() == pytest.approx(losses["speech-image"].item() + losses["voice-adversary"].item())
    model.zero_grad()
    losses["voice-adversary"].backward()
    reversed_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()  # the same classifier without the reversal layer (dropout is 0: the same pass)
    F.cross_entropy(model.adversary(model.encode_speech(batch.speech, batch.speech_lengths)), batch.voice_index).backward()
    for name, parameter in model.named_parameters():
        if name.startswith("adversary."):  # the head learns to name the voice, at full rate
            assert torch.allclose(reversed_grads[name], parameter.grad)
        elif name.startswith("speech."):  # the encoder is pushed the other way, by the weight
            assert torch.allclose(reversed_grads[name], -0.5 * parameter.grad, atol=1e-7)
    assert reversed_grads["speech.input_scale"].abs().sum() > 0
    assert "voice-adversary" not in model.eval().losses(batch)  # training only
    with pytest.raises(ConfigError, match="voice_index"):
        model.train().losses(replace(batch, voice_index=None))
    with pytest.raises(ConfigError, match="two training voice groups"):
        SonovisModel(replace(TINY, voice_adversary_weight=0.5), FEAT, IMAGE, voice_groups=1)
    with pytest.raises(ConfigError, match="voice_adversary_weight"):
        SonovisModel(replace(TINY, voice_adversary_weight=-1.0), FEAT, IMAGE, voice_groups=4)
    assert build().adversary is None


def phone_batch(images: int = 8, phones: int = 6, per_image: int = 2) -> Batch:
    """Utterances built from phone sounds: each image's caption is a random 5-phone sequence, and each
    phone a fixed frame vector held for 6-12 frames plus noise, so the phones can be read from the frames."""
    generator = torch.Generator().manual_seed(0)
    sounds = 2 * torch.randn(phones + 1, FEAT, generator=generator)
    captions = torch.randint(1, phones + 1, (images, 5), generator=generator)
    frames, phone_rows = [], []
    for utterance in range(images * per_image):
        caption = captions[utterance // per_image]
        held = torch.randint(6, 13, (5,), generator=generator)
        frames.append((sounds[caption.repeat_interleave(held)]
                       + 0.3 * torch.randn(int(held.sum()), FEAT, generator=generator)).numpy())
        phone_rows.append(caption)
    speech, speech_lengths = pad_frames(frames)
    return Batch(speech=speech, speech_lengths=speech_lengths,
                 image_index=torch.arange(images).repeat_interleave(per_image),
                 image_pooled=torch.randn(images, IMAGE, generator=generator),
                 phones=torch.stack(phone_rows), phone_lengths=torch.full((images * per_image,), 5))


def test_ctc_head_trains_lowers_its_own_loss_and_leaves_inference_unchanged() -> None:
    batch = phone_batch()
    model = SonovisModel(replace(TINY, ctc_weight=0.5), FEAT, IMAGE, phones=6)
    assert model.ctc is not None and model.ctc.upsample == 4  # 3 convs: 12.5 Hz states -> 50 Hz outputs
    first = model.train().losses(batch)
    assert set(first) == {"speech-image", "ctc", "total"}
    assert first["total"].item() == pytest.approx(first["speech-image"].item() + 0.5 * first["ctc"].item())
    first["total"].backward()
    assert model.ctc.out.weight.grad.abs().sum() > 0 and model.speech.input_scale.grad.abs().sum() > 0
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        losses = model.losses(batch)
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()
    assert losses["ctc"].item() < 0.25 * first["ctc"].item(), (first["ctc"].item(), losses["ctc"].item())
    served = SonovisModel(replace(TINY, ctc_weight=0.5), FEAT, IMAGE, phones=0)  # built to evaluate or serve
    assert served.ctc is None
    missing, unexpected = served.load_state_dict(model.state_dict(), strict=False)
    assert not missing and unexpected and all(key.startswith("ctc.") for key in unexpected)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.encode_speech(batch.speech, batch.speech_lengths),
                           served.eval().encode_speech(batch.speech, batch.speech_lengths))
        assert "ctc" not in model.losses(batch)  # training only
    with pytest.raises(ConfigError, match="phones"):
        model.train().losses(replace(batch, phones=None))
    with pytest.raises(ConfigError, match="crop_frames"):
        SonovisModel(replace(TINY, ctc_weight=0.5, crop_frames=40), FEAT, IMAGE, phones=6)
    assert build(ctc_weight=0.0).ctc is None


@pytest.mark.parametrize("kind, dtype", [("gru", torch.float32), ("lstm", torch.bfloat16)])
def test_under_bf16_autocast_only_the_lstm_runs_in_bf16(kind: str, dtype: torch.dtype) -> None:
    """A GRU has no bf16 kernel on CPU (its per-step products in bf16 cost more than float32), so it leaves
    autocast and computes in float32 on bf16 input; the LSTM takes oneDNN's bf16 kernel. Both agree with
    float32 to bf16's precision and keep padding at zero."""
    torch.manual_seed(0)
    rnn = Recurrent(kind, 8, 16, layers=1, bidirectional=True, dropout=0.0)
    x, lengths = torch.randn(3, 12, 8), torch.tensor([12, 7, 3])
    exact = rnn(x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = rnn(x.bfloat16(), lengths)
    assert fast.dtype == dtype
    assert torch.allclose(fast.float(), exact, atol=0.05)
    assert fast[2, 3:].abs().sum() == 0
