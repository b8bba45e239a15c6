"""The config parser: every field's declared range, and any TOML text or ``--set`` string ends as a config or one line."""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonovis.config import (
    AblateConfig,
    AugmentConfig,
    CorpusConfig,
    ExperimentConfig,
    FeatureConfig,
    ModelConfig,
    PrepareConfig,
    SearchConfig,
    SpeechConfig,
    TrainConfig,
    ablate_config,
    check_ranges,
    experiment_config,
    experiment_from_flat,
    flatten,
    load_settings,
    prepare_config,
    search_config,
)
from sonovis.config.loading import SECTIONS
from sonovis.errors import ConfigError

TOP = (PrepareConfig, ExperimentConfig, SearchConfig, AblateConfig)


def all_dataclasses() -> list[type]:
    found, todo = [], list(TOP)
    while todo:
        cls = todo.pop()
        found.append(cls)
        hints = typing.get_type_hints(cls)
        todo += [hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])]
    return found


def numeric(hint: typing.Any) -> bool:
    return hint in (int, float) or (typing.get_origin(hint) is tuple and typing.get_args(hint)[0] in (int, float))


def test_every_numeric_field_declares_its_range_and_its_default_lies_in_it():
    for cls in all_dataclasses():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if numeric(hints[f.name]):
                assert "range" in f.metadata, f"{cls.__name__}.{f.name}: give it ranged(default, interval)"
        check_ranges(cls())


@pytest.mark.parametrize("override, message", [
    ("train.epochs=0", "train.epochs = 0: expected a whole number in [1, inf)"),
    ("train.epochs=-1", "train.epochs = -1: expected a whole number in [1, inf)"),
    ("train.lr=-1", "train.lr = -1.0: expected a number in (0, inf)"),
    ("train.lr=nan", "train.lr = nan: expected a number in (0, inf)"),
    ("model.embed_dim=0", "model.embed_dim = 0: expected a whole number in [1, inf)"),
    ("model.dropout=1", "model.dropout = 1.0: expected a number in [0, 1)"),
    ("speech.speed=[190, 140]", "speech.speed = [190, 140]: expected [low, high] with low <= high"),
    ("augment.noise_snr_db=[5]", "augment.noise_snr_db = [5.0]: expected [low, high] with low <= high, or [] for off"),
    ("features.n_mfcc=41", "features.n_mfcc = 41: must not exceed features.n_mels = 40"),
    ("search.reduction_factor=1", "search.reduction_factor = 1: expected a whole number in [2, inf)"),
    ("ablate.seeds=0", "ablate.seeds = 0: expected a whole number in [1, inf)"),
    ("train.epochs=true", "train.epochs: expected a whole number, got True"),
    ("corpus.builtin_images=[1, 2]", "corpus.builtin_images: expected a list of 3 values, got [1, 2]"),
    ("model.rnn.x=1", "model.rnn: expected a string, got {'x': 1}"),
    ("bogus.key=1", "unknown section [bogus]; known sections: " + ", ".join(SECTIONS)),
    ("train=3", "train: expected a table, got 3"),
    ("prepare.corpus.kind=x", "prepare.corpus: write these settings in their own [corpus] section"),
    ("=3", "--set '=3': expected section.key=value"),
    ("train.", "--set 'train.': expected section.key=value"),
])
def test_bad_overrides_are_refused_naming_the_key_and_its_range(override, message):
    with pytest.raises(ConfigError) as err:
        load_settings(None, [override])
    assert str(err.value) == message


def test_every_section_has_its_dataclass():
    assert set(SECTIONS) == set(SECTION_CLASSES)


def test_unknown_keys_are_refused_listing_the_known_ones(tmp_path):
    (tmp_path / "s.toml").write_text("[train]\nepochz = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train.epochz'; known keys of \[train\]: epochs, batch_size"):
        load_settings(tmp_path / "s.toml")


def test_a_section_a_verb_does_not_use_is_still_checked():
    """``sonovis train`` reads no [search], but a shared file's mistake is reported on its first use."""
    with pytest.raises(ConfigError, match="search.trials = 0"):
        load_settings(None, ["search.trials=0"])


def test_a_trial_config_is_checked_like_a_file():
    flat = flatten(ExperimentConfig())
    with pytest.raises(ConfigError, match=r"^trial config: model.dropout = 1.5: expected a number in \[0, 1\)$"):
        experiment_from_flat({**flat, "model.dropout": 1.5})
    assert experiment_from_flat(flat) == ExperimentConfig()


def test_good_settings_pass_through(tmp_path):
    (tmp_path / "s.toml").write_text('[model]\nrnn = "lstm"\n[speech]\nspeed = [100, 100]\n[augment]\nnoise_snr_db = [5, 20]\n')
    settings = load_settings(tmp_path / "s.toml", ["train.epochs=1", "model.pairs=speech-image,text-image"])
    cfg = experiment_config(settings)
    assert (cfg.model.rnn, cfg.train.epochs, cfg.model.pairs) == ("lstm", 1, ("speech-image", "text-image"))
    assert prepare_config(settings).speech.speed == (100, 100)


# --- generated inputs: a config, or one ConfigError line, never another exception ---------------------

SECTION_CLASSES = {"corpus": CorpusConfig, "speech": SpeechConfig, "features": FeatureConfig, "prepare": PrepareConfig,
                   "model": ModelConfig, "train": TrainConfig, "augment": AugmentConfig, "search": SearchConfig,
                   "ablate": AblateConfig}
KEYS = sorted(f"{section}.{f.name}" for section, cls in SECTION_CLASSES.items() for f in dataclasses.fields(cls))
SCALARS = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.text(max_size=12), st.sampled_from(["0", "-1", "1e-4", "gru", "en-us", "a,b"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))


def toml_value(value: typing.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")) if not math.isfinite(value) \
            else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


@st.composite
def toml_texts(draw) -> str:
    """Mostly well-formed TOML over real and misspelt keys, sometimes plain noise."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=60))
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        section, key = draw(st.one_of(st.sampled_from(KEYS), st.from_regex(r"[a-z]{1,6}\.[a-z_]{1,8}", fullmatch=True))
                            ).split(".", 1)
        lines.append(f"[{section}]\n{key} = {toml_value(draw(VALUES))}")
    return "\n".join(lines) + "\n"


OVERRIDES = st.lists(st.one_of(
    st.builds(lambda k, v: f"{k}={toml_value(v)}", st.sampled_from(KEYS), VALUES),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=15)),
    st.text(max_size=25),
), max_size=4)


@pytest.fixture(scope="module")
def toml_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hypothesis") / "settings.toml"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=toml_texts(), overrides=OVERRIDES)
def test_any_input_ends_as_a_config_or_one_config_error_line(toml_file, text, overrides):
    toml_file.write_text(text, encoding="utf-8")
    try:
        settings_ = load_settings(toml_file, overrides)
        for build in (prepare_config, experiment_config, search_config, ablate_config):
            build(settings_)
    except ConfigError as err:
        assert "\n" not in str(err) and str(err).strip()
