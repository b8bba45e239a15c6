"""The config schema: one dataclass per concern, each field's comment giving the reason for its default.

Filled from TOML and the command line by ``sonovis.config.loading``; nothing here parses anything.
Each numeric field declares its range beside its default (``ranged(20, "[1, inf)")``); ``loading``
refuses a value outside it whenever a dataclass is built, from a file, ``--set`` or a Tune trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sonovis.config.ranges import ranged

SPLITS = ("train", "dev", "test")


@dataclass
class CorpusConfig:
    kind: str = "builtin"  # builtin | flickr8k | recordings
    root: str = ""  # dataset folder; for builtin, where scenes are rendered (default: <out>/builtin)
    splits: tuple[str, ...] = ("train", "dev")  # test is held back on purpose until the very end
    limit: int = ranged(0, "[0, inf)")  # at most this many images per split (all their captions); 0 = all
    seed: int = ranged(0, "[0, 4294967295]")  # builtin scenes and the fallback Flickr8k split are drawn from this
    # train/dev/test images of the built-in corpus
    builtin_images: tuple[int, int, int] = ranged((1000, 200, 200), "[0, inf)")
    # Longer captions are skipped (0 = no cap): Flickr8k's longest of 35,000 is 38 words (median 11),
    # and 50 words take ~18 s at espeak's slowest drawn speed, inside speech.max_seconds. A
    # 4,000-word row would otherwise become 8 minutes of audio and a 12 MB shard.
    max_caption_words: int = ranged(50, "[0, inf)")


@dataclass
class ConditionsConfig:
    """What a person's recording goes through and no synthesiser produces, rendered at prep time.

    ``sonovis.data.conditions`` applies the chosen kinds in physical order (voice conversion, room,
    microphone, noise, codec), each with values drawn from (speech.seed, utterance id, kind) only.
    """

    # any of voice_conversion, room, microphone, noise, codec; () = off, every utterance clean
    kinds: tuple[str, ...] = ()
    # The first K renditions of a caption (of speech.voices_per_caption) go through the conditions, the
    # rest stay clean: with 2 voices and K = 1 each caption is heard once clean and once in a room, and
    # model.voice_pair_weight pulls the two together. With one voice a caption, 1 conditions every utterance.
    per_caption: int = ranged(1, "[1, inf)")
    # ... and only for this share of the captions, drawn per caption from (speech.seed, caption id): with
    # 2 voices and K = 1, 0.5 puts a quarter of the utterances through them. 1 = every caption.
    share: float = ranged(1.0, "(0, 1]")
    # The splits whose utterances go through them. Random conditions are a training measure: dev and test
    # stay clean so their scores compare with a clean folder's, and a model is scored in a room through a
    # fixed set instead (speech.eval_condition), not through draws that change with the folder.
    splits: tuple[str, ...] = ("train",)
    # Distinct simulated rooms, each computed once per worker and reused: a room's image sources cost
    # 0.09 s CPU on average over the default ranges (growing with RT60 cubed: ~1 s at 0.7), while its
    # convolution with an utterance costs 4 ms, so 64 rooms are 6 s a worker rather than 0.09 s an utterance.
    rooms: int = ranged(64, "[1, inf)")
    room_size_m: tuple[float, float] = ranged((3.5, 8.0), "[1, 50]", pair=True)  # floor sides: office to meeting room
    room_height_m: tuple[float, float] = ranged((2.5, 3.2), "[1, 20]", pair=True)  # ceilings of offices and homes
    # Reverberation time for inverse_sabine: furnished offices and living rooms measure 0.3-0.6 s, bare
    # meeting rooms up to 0.8. A shoebox decays ~1.4x slower than Sabine says (each utterance records
    # the measured RT60 too), so 0.15-0.5 gives ~0.2-0.7 s measured; a room's cost grows with RT60 cubed.
    rt60_s: tuple[float, float] = ranged((0.15, 0.5), "(0, 3]", pair=True)
    # Talker to microphone: a headset's 0.3 m to across a meeting table; must fit the smallest room
    # (the pair keeps 0.5 m from every wall).
    distance_m: tuple[float, float] = ranged((0.3, 2.5), "(0, 49]", pair=True)
    # Microphone band: the low cut of small capsules and laptop mics (50-300 Hz) and the top of the
    # channel, from a telephone's 3.4 kHz to wideband speech's 7.5 kHz (clamped below Nyquist).
    highpass_hz: tuple[float, float] = ranged((50.0, 300.0), "(0, inf)", pair=True)
    lowpass_hz: tuple[float, float] = ranged((3400.0, 7500.0), "(0, inf)", pair=True)
    # Preamp level: espeak peaks near full scale, so gains above 0 dB also clip, as a hot input does.
    gain_db: tuple[float, float] = ranged((-6.0, 6.0), "[-60, 40]", pair=True)
    # Additive noise against the utterance's mean power: 10 dB is a noisy open office, 30 dB a quiet room.
    snr_db: tuple[float, float] = ranged((10.0, 30.0), "[-20, 100]", pair=True)
    noise_colours: tuple[str, ...] = ("white", "brown")  # white: electronic hiss; brown: fans and traffic rumble
    codecs: tuple[str, ...] = ("mp3", "opus")  # lossy round trips: MP3 files, Opus in calls and voice messages
    # Bitrates drawn uniformly (ffmpeg takes the nearest its encoder supports): MP3 speech from a
    # narrow 32 kbps to a clean 96; Opus from a poor call's 12 kbps to 32, transparent for speech.
    mp3_kbps: tuple[int, int] = ranged((32, 96), "[8, 320]", pair=True)
    opus_kbps: tuple[int, int] = ranged((12, 32), "[6, 510]", pair=True)
    # Voice conversion (WORLD resynthesis), log-uniform factors: F0 x0.8-1.25 is +-4 semitones, inside
    # espeak's own pitch spread; an envelope warp of +-10 % is about half the vocal-tract-length gap
    # between adult men and women, as augment.vtlp's default is.
    f0_scale: tuple[float, float] = ranged((0.8, 1.25), "(0, 4]", pair=True)
    envelope_warp: tuple[float, float] = ranged((0.9, 1.1), "(0, 2]", pair=True)


@dataclass
class SpeechConfig:
    # espeak (offline; with mbrola voices too) | gtts (online) | flite | pico | rhvoice (offline, other synthesis
    # methods: see tts_local.py) | a mixture drawn per utterance, e.g. "espeak+flite+pico" |
    # recordings (the user's own audio)
    engine: str = "espeak"
    # Several voices, speeds and pitches so a model cannot latch onto one synthesiser's quirks.
    voices: tuple[str, ...] = (
        "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
        "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    )
    variants: tuple[str, ...] = ("", "m1", "m3", "f1", "f2", "f4")  # espeak-ng voice variants ("" = none)
    # voices = ["all"] / variants = ["all"] expand, when the engine is built, to every English
    # espeak-ng voice / every `espeak-ng --voices=variant`: the widest spread without new packages.
    speed: tuple[int, int] = ranged((140, 190), "[80, 450]", pair=True)  # words per minute, drawn per utterance
    pitch: tuple[int, int] = ranged((30, 70), "[0, 99]", pair=True)  # espeak-ng pitch 0..99, drawn per utterance
    gtts_tlds: tuple[str, ...] = ("com", "co.uk", "com.au", "co.in", "ca", "ie")  # Google accents
    flite_voices: tuple[str, ...] = ("slt", "rms", "awb", "kal16")  # flite's built-in 16 kHz voices (kal is 8 kHz)
    pico_voices: tuple[str, ...] = ("en-US", "en-GB")  # Pico's English voices
    # RHVoice's English voices in Debian: US (bdl, clb, slt), Scottish (alan), Russian-accented (evgeniy-eng, lyubov)
    rhvoice_voices: tuple[str, ...] = ("alan", "bdl", "clb", "slt", "evgeniy-eng", "lyubov")
    voices_per_caption: int = ranged(1, "[1, inf)")  # >1 speaks each caption with several different voices
    # Leave voices out at prep time: substring patterns on a voice's label without speed/pitch
    # (e.g. "en-gb-scotland", "+f" against "espeak:en-gb-scotland+f2"). Train speaks only with
    # voice/variant pairs matching none, dev/test only with pairs matching one: a model is then
    # scored on voices it never heard. () = every split draws from every voice.
    holdout_voices: tuple[str, ...] = ()
    seed: int = ranged(0, "[0, 4294967295]")  # voice draws depend only on (seed, utterance id), not order or worker
    cache_dir: str = ""  # synthesised audio cache; default ~/.cache/sonovis/speech
    # Longer audio, synthesised or recorded, is skipped (0 = no cap): espeak speaks Flickr8k at a
    # median 3.2 s and at most 8.7 s over 300 random captions; the longest caption in the slowest
    # voice and speed is 13.6 s. A 10-minute recording is a mistake, not a caption.
    max_seconds: float = ranged(20.0, "(0, inf)")
    # Audio whose loudest 25 ms frame is quieter than this (dBFS) is skipped as silent: espeak's
    # loudest frame is -15 to -7 dBFS (100 random captions), so -50 leaves 35 dB for quiet microphones.
    silence_dbfs: float = ranged(-50.0, "(-inf, 0]")
    # Rooms, microphones, noise and codecs for a share of the utterances (speech.conditions.kinds; off).
    conditions: ConditionsConfig = field(default_factory=ConditionsConfig)
    # A named, fixed condition set applied to every utterance instead (e.g. "office": one room, a laptop
    # microphone, fan noise, Opus), to prepare a dev folder "in the room"; "" = none.
    eval_condition: str = ""


@dataclass
class FeatureConfig:
    sample_rate: int = ranged(16000, "[8000, 48000]")  # every waveform is resampled to this before features
    n_mfcc: int = ranged(40, "[1, inf)", at_most="n_mels")
    n_mels: int = ranged(40, "[1, inf)")  # mel filters behind the MFCC
    win_ms: float = ranged(25.0, "(0, inf)")
    hop_ms: float = ranged(10.0, "(0, inf)")  # 100 frames a second; the model subsamples further
    kind: str = "mfcc"  # mfcc | logmel (n_mels log filterbank energies, no DCT)
    backbone: str = "efficientnet_lite0"  # efficientnet_lite0 (offline weights) | resnet18 (torchvision download)
    image_batch: int = ranged(32, "[1, inf)")  # images per backbone forward pass


@dataclass
class PrepareConfig:
    out: str = ""  # output folder for shards and manifest.json (absolute paths: Ray workers may run elsewhere)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    shard_rows: int = ranged(500, "[1, inf)")  # utterances per Parquet shard: ~30 MB, and the unit of resumable work
    num_cpus: int = ranged(0, "[0, inf)")  # parallel speech workers; 0 = every CPU of the cluster


@dataclass
class ModelConfig:
    conv_channels: int = ranged(128, "[1, inf)")
    # each halves the frame rate: 100 Hz MFCC -> 12.5 Hz into the recurrent layer
    conv_layers: int = ranged(3, "[0, inf)")
    rnn: str = "gru"  # gru | lstm | none (convolution only: fastest on one CPU)
    # per direction; with 3 conv layers, 2x faster per step than 256 over 2 layers, and better per CPU-minute
    hidden_size: int = ranged(128, "[1, inf)")
    rnn_layers: int = ranged(1, "[1, inf)")
    bidirectional: bool = True
    pooling: str = "attention"  # attention | mean; both ignore padded frames
    dropout: float = ranged(0.1, "[0, 1)")
    embed_dim: int = ranged(256, "[1, inf)")  # shared space; embeddings are L2-normalised
    image_proj: str = "mlp"  # linear | mlp, over the frozen backbone's pooled vector
    # InfoNCE temperature (the plan's value); initial value when learnable
    temperature: float = ranged(0.07, "(0, inf)")
    learnable_temperature: bool = False  # CLAP: learn log(1/T), clamped to T >= 0.01
    # CLAP long audio: >0 fuses a global view with a random crop of this many frames
    crop_frames: int = ranged(0, "[0, inf)")
    cmd_weight: float = ranged(0.0, "[0, inf)")  # cross-modal denoising loss weight (0 = off); training only
    cmd_mask_ratio: float = ranged(0.3, "[0, 1]")  # fraction of MFCC frames masked for the denoising loss
    # Voice pairs (0 = off): batches hold two renditions of each caption (two voices with
    # speech.voices_per_caption > 1, else two augmented copies) and a speech-speech InfoNCE of this
    # weight pulls them together: the same words must land in the same place whoever speaks them.
    voice_pair_weight: float = ranged(0.0, "[0, inf)")
    # Voice adversary (0 = off; training only): a head learns to name each utterance's training
    # voice group from its embedding, and a gradient reversed and scaled by this weight trains the
    # encoder to make that impossible (domain-adversarial training, Ganin et al. 2016).
    voice_adversary_weight: float = ranged(0.0, "[0, inf)")
    # Phonetic supervision (0 = off; training only): a CTC head on the speech encoder's frame states
    # learns the caption's phones, stored at prep time, so the states must carry what was said rather
    # than who said it. Auxiliary speech-to-text objectives helped visually grounded speech on
    # Flickr8k (Chrupała 2019). The head is dropped when a model is loaded to evaluate or serve.
    ctc_weight: float = ranged(0.0, "[0, inf)")
    pairs: tuple[str, ...] = ("speech-image",)  # MCN: any of speech-image, speech-text, text-image
    text_dim: int = ranged(256, "[1, inf)")  # caption-text encoder width (only built when a pair involves text)
    # Per-utterance mean/variance normalisation of the input, train and eval alike: removes
    # channel and level differences between voices. Off only to measure what it is worth.
    utterance_norm: bool = True
    # Keep only the first N MFCC (0 = all). Low quefrencies carry the vocal-tract envelope, the
    # words; the high ones carry pitch harmonics and synthesiser detail, which utterance_norm
    # would otherwise scale up to the same variance. MFCC only; 13 is the classic ASR choice.
    n_cepstra: int = ranged(0, "[0, inf)")


@dataclass
class TrainConfig:
    epochs: int = ranged(20, "[1, inf)")
    batch_size: int = ranged(32, "[2, inf)")  # the plan searches {16, 32}; images in a batch are distinct
    lr: float = ranged(3e-4, "(0, inf)")
    weight_decay: float = ranged(1e-4, "[0, inf)")
    seed: int = ranged(0, "[0, 4294967295]")  # same seed, same data -> identical metrics
    threads: int = ranged(1, "[1, inf)")  # torch threads; a trial owns exactly one CPU
    eval_split: str = "dev"
    bucket_batches: int = ranged(20, "[1, inf)")  # length-sort pools of this many batches, so padding is small
    # Train on the first N train images only (all their captions); 0 = all. Makes ablations and
    # strategy comparisons affordable on a big prepared corpus without preparing a smaller copy;
    # the eval split stays whole, so recalls stay on the same protocol.
    limit_images: int = ranged(0, "[0, inf)")
    # Leave voices out at training time, on any prepared folder: train utterances whose voice
    # label contains a pattern (e.g. "en-gb-scotland", "+f") are dropped, and evaluation also
    # reports heldout_* / seen_* metrics over the eval split's matching / other utterances.
    holdout_voices: tuple[str, ...] = ()
    # Leave out the train utterances that went through any of these prep-time condition kinds (e.g.
    # ["voice_conversion"]): one folder prepared with converted or reverberated renditions then serves a
    # search that decides whether they help, since rendering them is far too dear to do per epoch
    # (WORLD resynthesis costs ~0.3 CPU-s an utterance, training on it ~0.003 an epoch). () = learn from all.
    skip_conditions: tuple[str, ...] = ()
    # Evaluate, keep and serve an exponential moving average of the weights, updated after every
    # optimiser step with this decay; 0 = off, 0.999 averages over the last ~1,000 steps. Training
    # itself is unchanged. An average along the path sits in a flatter region than the last step,
    # which carries over better to data unlike the training set (SWAD, Cha et al. 2021; here, TTS
    # engines never heard), and it damps the epoch-to-epoch noise of recall.
    ema_decay: float = ranged(0.0, "[0, 1)")
    # Arithmetic of the training step: "bf16" runs its convolutions, linear layers and LSTMs in
    # bfloat16 under autocast (weights, optimiser, the moving average, the losses' similarities and
    # evaluation stay float32), which a CPU with native bf16 (AVX-512 BF16 or AMX: AMD Zen 4, Intel
    # Sapphire Rapids and later) runs faster; without it bf16 is emulated and slower, so "auto" takes
    # bf16 only where the CPU has it. A GRU has no bf16 kernel on CPU and stays float32, so bf16 pays
    # most with model.rnn = "lstm" (docs/results/speed.md). "fp32" = every step in float32, as before.
    precision: str = "fp32"


@dataclass
class AugmentConfig:
    """Training-only feature augmentation (sonovis/augment.py); every switch defaults to off."""

    # SpecAugment time masks: spans of whole frames set to the utterance's mean frame.
    time_masks: int = ranged(0, "[0, inf)")  # spans per utterance; 0 = off
    time_mask_width: int = ranged(20, "[1, inf)")  # widest span in frames (0.2 s at 100 Hz: about a syllable)
    # SpecAugment frequency masks: whole mel bins set to their mean over the utterance.
    freq_masks: int = ranged(0, "[0, inf)")  # bands per utterance; 0 = off. Needs n_mfcc == n_mels (an invertible DCT)
    freq_mask_width: int = ranged(6, "[1, inf)")  # widest band in mel bins (of 40 by default)
    speed: float = ranged(0.0, "[0, 1)")  # tempo factor drawn from [1 - speed, 1 + speed]; lengths change by 1/factor
    vtlp: float = ranged(0.0, "[0, 1)")  # vocal-tract-length warp of the mel axis by a factor in [1 - vtlp, 1 + vtlp]
    # Additive noise at an SNR drawn from [low, high] dB, in the mel power domain; () = off.
    noise_snr_db: tuple[float, ...] = ranged((), "(-inf, inf)", pair=True)
    # Random gain drawn from [-gain_db, +gain_db]. With model.utterance_norm on it is a no-op
    # on MFCC and log-mel (the per-utterance mean removes it); it matters with noise or norm off.
    gain_db: float = ranged(0.0, "[0, inf)")


@dataclass
class ExperimentConfig:
    """What one training run needs: the model and how to train it."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # flat keys augment.*: searchable


@dataclass
class SearchConfig:
    trials: int = ranged(50, "[1, inf)")
    max_epochs: int = ranged(12, "[1, inf)")  # ASHA's max_t, in epochs
    grace_period: int = ranged(2, "[1, inf)")  # epochs every trial gets before ASHA may stop it
    reduction_factor: int = ranged(3, "[2, inf)")
    searcher: str = "tpe"  # tpe | random
    # Trials TPE samples at random before it models anything (Optuna's default, fine for 50 trials);
    # lower it when comparing TPE with random sampling at a dozen trials, or the two are the same.
    startup_trials: int = ranged(10, "[0, inf)")
    # asha | hyperband | fifo (no early stopping): tuner.SCHEDULERS. HyperBand may stop no trial when several run
    # at once (tuner.HYPERBAND_AT_ONCE says why); ASHA does not wait for a rung to fill.
    scheduler: str = "asha"
    # What ASHA's rungs and a trial's budget count: "epochs", or "cpu_minutes" (each trial's training
    # and evaluation CPU), so that a dearer epoch costs the search what it costs the machine (search/clock.py).
    clock: str = "epochs"
    max_cpu_minutes: float = ranged(0.0, "[0, inf)")  # clock = cpu_minutes: every trial's budget (ASHA's max_t)
    grace_cpu_minutes: float = ranged(2.0, "(0, inf)")  # clock = cpu_minutes: what a trial spends before ASHA may stop it
    reserved_cpus: int = ranged(0, "[0, inf)")  # CPUs per cluster left free of trials (e.g. for the driver)
    # retries per trial after a crash or a lost node, from its last checkpoint; -1: no limit (Ray's convention)
    max_failures: int = ranged(3, "[-1, inf)")
    keep_checkpoints: int = ranged(2, "[1, inf)")  # best checkpoints kept per trial, by dev recall
    seed: int = ranged(0, "[0, 4294967295]")
    storage_path: str = ""  # where Tune writes; on a cluster a path all nodes share, or an s3:// URI
    # Search space over ExperimentConfig fields: {"train.lr": {"loguniform": [1e-5, 1e-3]}, ...}
    space: dict[str, dict[str, list]] = field(default_factory=lambda: dict(DEFAULT_SPACE))
    # An earlier study (optuna.db, or its search folder) whose best trials run first: a subset's lessons.
    warm_start: str = ""
    warm_start_trials: int = ranged(4, "[1, inf)")  # that many of its best, queued before TPE proposes anything
    # The base configuration (e.g. recipe.toml's) runs as a trial before the sampler proposes any, so
    # the search is measured against the hand-set recipe on its own data and budget.
    base_first: bool = True
    # GiB each trial reserves (Ray's "memory" resource): a node offering less (join-worker.sh --memory,
    # the agent's `memory`) is never given a trial, so a small office PC is not pushed into swap while
    # its owner is away. It covers the trial's own process (torch, the model, optimizer state, a batch);
    # the prepared data sits in the node's object store, which Ray sizes separately. 0 reserves nothing.
    trial_memory_gb: float = ranged(1.0, "[0, inf)")


DEFAULT_SPACE: dict[str, dict[str, list]] = {
    "train.lr": {"loguniform": [1e-5, 1e-3]},
    "model.embed_dim": {"choice": [128, 256, 512]},
    "train.batch_size": {"choice": [16, 32]},
    "model.hidden_size": {"choice": [128, 256]},
    "model.rnn_layers": {"choice": [1, 2]},
    # oneDNN's fused LSTM learns as much an epoch as the GRU for 0.96 of its CPU, 0.78 with train.precision
    # = "auto" on a CPU with native bf16 (docs/results/speed.md): CPU-minute rungs weigh that.
    "model.rnn": {"choice": ["gru", "lstm"]},
    "model.pooling": {"choice": ["attention", "mean"]},
    "model.dropout": {"uniform": [0.0, 0.3]},
    "train.weight_decay": {"loguniform": [1e-6, 1e-2]},
    "model.learnable_temperature": {"choice": [False, True]},
    "model.cmd_weight": {"choice": [0.0, 0.1, 0.5]},
    "model.pairs": {"choice": [["speech-image"], ["speech-image", "speech-text", "text-image"]]},
    "model.ctc_weight": {"choice": [0.0, 0.3, 1.0]},  # phonetic supervision: off, light, as strong as InfoNCE
    # recipe.toml's measures for voices never heard, on and off: the first MFCC only (0 = all 40),
    # vocal-tract-length perturbation, a moving average of the weights (its ~1,000-step window
    # suits Flickr8k's thousands of steps an epoch, not a corpus of a few dozen batches)
    "model.n_cepstra": {"choice": [0, 5, 8]},
    "augment.vtlp": {"choice": [0.0, 0.1]},
    "train.ema_decay": {"choice": [0.0, 0.999]},
}


@dataclass
class AblateConfig:
    """``sonovis ablate``: what each paper's idea is worth here, and what each search strategy costs."""

    seeds: int = ranged(3, "[1, inf)")  # runs per arm: a difference smaller than the spread over seeds is no finding
    epochs: int = ranged(6, "[1, inf)")  # every arm trains exactly this long (no early stopping): equal budgets
    # Arm -> overrides of flat ExperimentConfig keys on the base config; "baseline" is compared against.
    arms: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_ARMS))
    # Strategies compared on the [search] space at equal trials: searcher+scheduler.
    strategies: tuple[str, ...] = ("tpe+asha", "random+asha", "tpe+fifo", "random+fifo")
    target_metric: str = "s2i_r10"  # the dev recall a strategy must reach ...
    target: float = ranged(25.0, "[0, 100]")  # ... and its value: the project's quality bar (benchmarks/quality.py)


DEFAULT_ARMS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "cmd": {"model.cmd_weight": 0.5},  # cross-modal denoising at the largest weight the search tries
    "learnable_temperature": {"model.learnable_temperature": True},  # CLAP
    # CLAP crops: 2 s at 100 frames/s is shorter than ~90% of espeak's Flickr8k captions (median 3.2 s).
    "crops": {"model.crop_frames": 200},
    "tri_modal": {"model.pairs": ["speech-image", "speech-text", "text-image"]},  # MCN
}
