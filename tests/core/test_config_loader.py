"""The config loader: typed values, overrides, and errors that name the key and the file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from mathforge.config import ConfigError, load_config, save_resolved_config, to_dict


@dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    kind: Literal["adamw", "sgd"] = "adamw"


@dataclass
class Run:
    name: str = "run"
    steps: int = 10
    bf16: bool = False
    out: Path = Path("runs/x")
    seed: int | None = None
    mixture: dict[str, float] = field(default_factory=dict)
    optim: Optim = field(default_factory=Optim)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_values_from_file_and_defaults(tmp_path):
    path = write(tmp_path, 'name = "a"\nsteps = 3\n[optim]\nlr = 2\nbetas = [0.8, 0.9]\n[mixture]\nmath = 56\ncode = 20\n')
    cfg = load_config(Run, path)
    assert cfg.name == "a" and cfg.steps == 3 and cfg.bf16 is False
    assert cfg.optim.lr == 2.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.mixture == {"math": 56.0, "code": 20.0}
    assert cfg.out == Path("runs/x")


def test_overrides_are_typed_and_nested(tmp_path):
    path = write(tmp_path, "steps = 3\n")
    cfg = load_config(Run, path, ["steps=7", "optim.lr=0.5", "optim.kind=sgd", "name=hello world", "seed=4", "out=/tmp/o"])
    assert (cfg.steps, cfg.optim.lr, cfg.optim.kind, cfg.name, cfg.seed, cfg.out) == (
        7, 0.5, "sgd", "hello world", 4, Path("/tmp/o"))
    assert load_config(Run, path, ["seed=none"]).seed is None


@pytest.mark.parametrize(
    ("text", "overrides", "needle"),
    [
        ("stepz = 3\n", [], "unknown key 'stepz'"),
        ("[optim]\nlrr = 1\n", [], "unknown key 'optim.lrr'"),
        ('steps = "many"\n', [], "key 'steps': expected an integer"),
        ("steps = 1.5\n", [], "key 'steps': expected an integer"),
        ("bf16 = 1\n", [], "key 'bf16': expected true or false"),
        ('[optim]\nkind = "adam"\n', [], "key 'optim.kind': expected one of"),
        ("optim = 3\n", [], "key 'optim': expected a table"),
        ("", ["optim.lr=fast"], "key 'optim.lr': expected a number"),
        ("", ["nokey"], "expected key.sub=value"),
        ("steps = 3\n", ["steps.x=1"], "'steps' is a value"),
        ("steps = [\n", [], "not valid TOML"),
    ],
)
def test_bad_configs_name_key_and_file(tmp_path, text, overrides, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(Run, path, overrides)
    message = str(info.value)
    assert needle in message
    assert str(path) in message or overrides[0] in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Run, tmp_path / "nope.toml")


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(Run, write(tmp_path, "steps = 5\n"), ["optim.lr=0.25"])
    path = save_resolved_config(cfg, tmp_path / "run")
    saved = json.loads(path.read_text())
    assert saved == to_dict(cfg)
    assert saved["optim"] == {"lr": 0.25, "betas": [0.9, 0.95], "kind": "adamw"}
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["config.json"]  # no temp file left


def test_every_shipped_config_loads():
    """Each TOML under configs/ names the dataclass it fills in its `# config:` first line (or is a URL
    annotation file, first line `# annotations:`, checked by its own loader); all must load."""
    import importlib

    from corpus.annotations import load_annotations

    root = Path(__file__).resolve().parents[2] / "configs"
    checked = 0
    for path in sorted(root.rglob("*.toml")):
        first = path.read_text().splitlines()[0]
        if first.startswith("# annotations:"):
            assert load_annotations(path), f"{path}: no annotation"
            continue
        assert first.startswith("# config: "), f"{path}: first line must be '# config: module:Class'"
        module, cls = first.removeprefix("# config: ").strip().split(":")
        load_config(getattr(importlib.import_module(module), cls), path)
        checked += 1
    assert checked > 0
