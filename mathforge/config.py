"""Typed run configs: dataclasses loaded from TOML, with `key.sub=value` overrides.

Why our own loader: every stage's config is a small dataclass (torchtitan style) composed into a
run config; a typo in a TOML key or a string where a number belongs must stop the run at load time
with an error naming the key and the file, not surface hours later as a silent default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from mathforge.io import atomic_write_text

T = TypeVar("T")

RESOLVED_CONFIG_NAME = "config.json"


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key and where it came from."""


def load_config(cls: type[T], path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> T:
    """Build `cls` from the TOML file at `path` (defaults where absent), then apply `key.sub=value` overrides."""
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(raw, key, value, source=f"override {item!r}")
    return from_dict(cls, raw, source=source)


def parse_override(item: str) -> tuple[str, Any]:
    """`a.b=3` -> ("a.b", 3). The value is read as a TOML value when it parses as one, else as a string."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key.sub=value")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r}: empty key")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return key, value


def set_dotted(raw: dict[str, Any], key: str, value: Any, source: str) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: key {key!r}: {part!r} is a value, not a table")
        node = child
    node[parts[-1]] = value


def from_dict(cls: type[T], raw: dict[str, Any], source: str, prefix: str = "") -> T:
    """Instantiate dataclass `cls` from a nested dict, checking every key and type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: key {prefix.rstrip('.') or '<root>'!r}: expected a table")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{source}: unknown key {prefix + unknown[0]!r} (known in this table: {known})")
    kwargs = {name: _coerce(hints[name], raw[name], source, prefix + name) for name in raw}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: table {prefix.rstrip('.') or '<root>'!r}: {exc}") from exc


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: key {key!r}: expected {expected}, got {type(value).__name__} {value!r}")

    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source, prefix=key + ".")  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (value is None or value == "none"):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, source, key)
            except ConfigError:
                continue
        raise bad(" or ".join(_name(a) for a in args))
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise bad("one of " + ", ".join(repr(c) for c in choices))
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise bad(_name(tp))
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad("a table")
        k_tp, v_tp = typing.get_args(tp) or (Any, Any)
        return {_coerce(k_tp, k, source, key): _coerce(v_tp, v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise bad("a path string")
        return Path(value)
    raise ConfigError(f"{source}: key {key!r}: unsupported config type {_name(tp)}")


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a config (Paths as strings)."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return convert(cfg)


def save_resolved_config(cfg: Any, run_dir: str | Path) -> Path:
    """Write the fully resolved config as JSON next to a run's outputs (atomically)."""
    path = Path(run_dir) / RESOLVED_CONFIG_NAME
    atomic_write_text(path, json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")
    return path


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The convention every command follows: a TOML config path, then key.sub=value overrides."""
    parser.add_argument("config", help="TOML config file (see configs/tiny/ and configs/deepseekmath-7b/)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override a config value")


def toml_string(value: str | Path) -> str:
    """`value` as a TOML basic string, for a `key=value` override (JSON string escapes are valid TOML)."""
    return json.dumps(str(value), ensure_ascii=False)
