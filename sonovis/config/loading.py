"""The plumbing that fills the schema: TOML files, ``--set section.key=value``, and the flat dict Tune takes.

Config flows one way: TOML / ``--set`` -> the dataclasses in ``schema`` -> a flat
``{"model.hidden_size": 256, ...}`` dict (Tune's ``param_space``) -> back into the dataclasses inside
each trial (``experiment_from_flat``). Every dataclass is built by ``from_dict``, which refuses
unknown keys, values of the wrong type and values outside the range ``schema`` declares beside the
field, each in one line naming the key: so a trial's sampled config is checked like a TOML file.
"""

from __future__ import annotations

import dataclasses
import datetime
import tomllib
import typing
from pathlib import Path
from typing import Any

from sonovis.config.schema import (
    AblateConfig,
    CorpusConfig,
    ExperimentConfig,
    FeatureConfig,
    PrepareConfig,
    SearchConfig,
    SpeechConfig,
)
from sonovis.errors import ConfigError

# The sections of one TOML file, each read by one of the *_config builders below.
SECTIONS = ("corpus", "speech", "features", "prepare", "model", "train", "augment", "search", "ablate")


def from_dict(cls: type, values: Any, where: str = "", key: str = "") -> Any:
    """Build dataclass ``cls`` from a (nested) dict: unknown keys, wrong types and out-of-range values are refused.

    ``where`` names the source (a file) and ``key`` the section, so a message reads ``train.lr = -1.0: ...``.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{_at(where)}{key or cls.__name__}: expected a table, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known), key=str)
    if unknown:
        of = f" of [{key}]" if key else ""
        raise ConfigError(f"{_at(where)}unknown key {_join(key, str(unknown[0]))!r}; known keys{of}: {', '.join(known)}")
    kwargs = {name: _coerce(hints[name], value, where, _join(key, name)) for name, value in values.items()}
    cfg = cls(**kwargs)
    check_ranges(cfg, where, key)
    return cfg


def check_ranges(cfg: Any, where: str = "", key: str = "") -> None:
    """Every field declared with ``ranged`` in ``schema`` holds a value in its range (and its pair is ordered)."""
    for f in dataclasses.fields(cfg):
        interval = f.metadata.get("range")
        if interval is None:
            continue
        value, name = getattr(cfg, f.name), _join(key, f.name)
        numbers = value if isinstance(value, tuple) else (value,)
        if not all(interval.holds(v) for v in numbers):
            what = "whole numbers" if isinstance(value, tuple) else "a whole number"
            if any(isinstance(v, float) for v in numbers):
                what = "numbers" if isinstance(value, tuple) else "a number"
            raise ConfigError(f"{_at(where)}{name} = {_show(value)}: expected {what} in {interval.text}")
        if f.metadata["pair"] and numbers and (len(numbers) != 2 or numbers[0] > numbers[1]):
            off = ", or [] for off" if f.default == () else ""
            raise ConfigError(f"{_at(where)}{name} = {_show(value)}: expected [low, high] with low <= high{off}")
        other = f.metadata["at_most"]
        if other and value > getattr(cfg, other):
            raise ConfigError(f"{_at(where)}{name} = {_show(value)}: must not exceed "
                              f"{_join(key, other)} = {_show(getattr(cfg, other))}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _coerce(hint: Any, value: Any, where: str, key: str) -> Any:
    """``value`` as type ``hint`` (lists to tuples, "a,b" to a tuple, "3" to 3), or one line naming ``key``."""
    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{_at(where)}{key}: expected {expected}, got {value!r}")

    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, where, key)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            raise wrong("a list")
        if args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise wrong(f"a list of {len(args)} values")
            return tuple(_coerce(a, v, where, key) for a, v in zip(args, value))
        return tuple(_coerce(args[0], v, where, key) for v in value) if args else tuple(value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise wrong("a table")
        item = args[1] if args else Any
        return {k: _coerce(item, v, where, f"{key}.{k}") for k, v in value.items()}
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            raise wrong("a list")
        return list(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise wrong("true/false")
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise wrong("a whole number") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong("a whole number")
        return value
    if hint is float:
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            return float(value)
        except (ValueError, OverflowError):
            raise wrong("a number") from None
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise wrong("a string")
        return str(value)
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict (tuples become lists) — what TOML, JSON and manifests store."""
    return _plain(dataclasses.asdict(cfg))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def flatten(cfg: Any) -> dict[str, Any]:
    """``ExperimentConfig`` -> ``{"model.hidden_size": 256, ...}``, the shape Tune's param_space takes."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            flat[prefix] = value

    walk("", to_dict(cfg))
    return flat


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        _put(nested, key, value, f"trial config key {key!r}")
    return nested


def _put(nested: dict[str, Any], key: str, value: Any, label: str) -> None:
    """``nested[a][b][c] = value`` for key ``a.b.c``, refusing empty names and values used as tables."""
    parts = [part.strip() for part in key.split(".")]
    if not all(parts):
        raise ConfigError(f"{label}: expected section.key=value")
    node = nested
    for depth, part in enumerate(parts[:-1], 1):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{label}: {'.'.join(parts[:depth])} is a value, not a section")
    node[parts[-1]] = value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set section.key=value`` strings onto a nested dict (values are parsed as TOML scalars)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        _put(values, key, _override_value(raw), f"--set {item!r}")
    return values


def _override_value(raw: str) -> Any:
    """A TOML value (``3``, ``1e-4``, ``true``, ``["a", "b"]``), else the text itself: a bare word like gru or en-us."""
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    if list(parsed) != ["v"] or isinstance(parsed["v"], (datetime.date, datetime.time)):
        return raw  # more than one value (a newline in it), or a date: the user meant the text
    return parsed["v"]


def read_toml(path: str | Path | None) -> dict[str, Any]:
    if not path:
        return {}
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror or type(err).__name__})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def experiment_from_flat(flat: dict[str, Any]) -> ExperimentConfig:
    """Inside a trial: Tune's flat config back into the typed dataclasses, checked like a TOML file."""
    return from_dict(ExperimentConfig, unflatten(flat), where="trial config")


# --- the sections of one TOML file: [corpus] [speech] [features] [prepare] [model] [train] [augment] [search] [ablate]


def load_settings(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """The whole TOML file as a nested dict, with ``--set section.key=value`` applied on top.

    Every section is checked here, whichever the verb uses: a mistake in a shared file is
    reported the first time any verb reads it, not when the one verb that needs it runs.
    """
    settings = apply_overrides(read_toml(path), list(overrides))
    unknown = sorted(set(settings) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}]; known sections: {', '.join(SECTIONS)}")
    for build in (prepare_config, experiment_config, search_config, ablate_config):
        build(settings)
    return settings


def _section(settings: dict[str, Any], name: str) -> Any:
    return settings.get(name, {})


def prepare_config(settings: dict[str, Any]) -> PrepareConfig:
    values = _section(settings, "prepare")
    nested = {"corpus": CorpusConfig, "speech": SpeechConfig, "features": FeatureConfig}
    if isinstance(values, dict) and (inside := sorted(set(values) & set(nested))):
        raise ConfigError(f"prepare.{inside[0]}: write these settings in their own [{inside[0]}] section")
    built = {name: from_dict(cls, _section(settings, name), key=name) for name, cls in nested.items()}
    if not isinstance(values, dict):
        return from_dict(PrepareConfig, values, key="prepare")
    return from_dict(PrepareConfig, {**values, **built}, key="prepare")


def experiment_config(settings: dict[str, Any]) -> ExperimentConfig:
    return from_dict(ExperimentConfig, {k: _section(settings, k) for k in ("model", "train", "augment")})


def search_config(settings: dict[str, Any]) -> SearchConfig:
    return from_dict(SearchConfig, _section(settings, "search"), key="search")


def ablate_config(settings: dict[str, Any]) -> AblateConfig:
    return from_dict(AblateConfig, _section(settings, "ablate"), key="ablate")
