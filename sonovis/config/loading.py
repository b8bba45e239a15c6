"""The plumbing that fills the schema: TOML files, ``--set section.key=value``, and the flat dict Tune takes.

Config flows one way: TOML / ``--set`` -> the dataclasses in ``schema`` -> a flat
``{"model.hidden_size": 256, ...}`` dict (Tune's ``param_space``) -> back into the dataclasses inside
each trial (``experiment_from_flat``). Type checks name the field and the file they came from.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

from sonovis.config.schema import (
    AblateConfig,
    ExperimentConfig,
    PrepareConfig,
    SearchConfig,
)
from sonovis.errors import ConfigError


def from_dict(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a (nested) dict, refusing unknown keys and coercing lists to tuples."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return from_dict(hint, value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""] if value else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args and (len(args) == 2 and args[1] is Ellipsis) else None
        if item is None and args:
            return tuple(_coerce(a, v, where) for a, v in zip(args, value))
        return tuple(_coerce(item, v, where) if item else v for v in value)
    if hint is bool:
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return bool(value)
    if hint in (int, float, str):
        try:
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}") from None
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
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set section.key=value`` strings onto a nested dict (values are parsed as TOML scalars)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        key, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as gru or en-us
        node = values
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return values


def read_toml(path: str | Path | None) -> dict[str, Any]:
    if not path:
        return {}
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from None


def load_section(cls: type, path: str | Path | None, section: str | None, overrides: list[str] = ()) -> Any:
    """One dataclass from a TOML file's section (or the whole file), with ``--set`` overrides applied."""
    values = read_toml(path)
    if section:
        values = values.get(section, {})
    values = apply_overrides(values, list(overrides))
    return from_dict(cls, values, where=str(path or section or cls.__name__))


def experiment_from_flat(flat: dict[str, Any]) -> ExperimentConfig:
    """Inside a trial: Tune's flat config back into the typed dataclasses."""
    return from_dict(ExperimentConfig, unflatten(flat), where="trial config")


# --- the sections of one TOML file: [corpus] [speech] [features] [prepare] [model] [train] [augment] [search] [ablate]


def load_settings(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """The whole TOML file as a nested dict, with ``--set section.key=value`` applied on top."""
    return apply_overrides(read_toml(path), list(overrides))


def prepare_config(settings: dict[str, Any]) -> PrepareConfig:
    values = dict(settings.get("prepare", {}))
    for section in ("corpus", "speech", "features"):
        values[section] = settings.get(section, {})
    return from_dict(PrepareConfig, values, where="prepare settings")


def experiment_config(settings: dict[str, Any]) -> ExperimentConfig:
    sections = ("model", "train", "augment")
    return from_dict(ExperimentConfig, {k: settings.get(k, {}) for k in sections}, where="settings")


def search_config(settings: dict[str, Any]) -> SearchConfig:
    return from_dict(SearchConfig, settings.get("search", {}), where="search settings")


def ablate_config(settings: dict[str, Any]) -> AblateConfig:
    return from_dict(AblateConfig, settings.get("ablate", {}), where="ablate settings")
