"""The `mathforge` entry point: help for every group, and one-line errors for bad configs on every command."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from mathforge.cli import GROUPS, build_parser, main


def config_commands() -> list[tuple[str, str]]:
    """Every (group, command) whose parser takes the CONFIG positional."""
    found = []
    for group_action in build_parser()._subparsers._group_actions:  # type: ignore[union-attr]
        for group, group_parser in group_action.choices.items():
            for action in group_parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, cmd in action.choices.items():
                        if any(a.dest == "config" for a in cmd._actions):
                            found.append((group, name))
    return found


def test_help_lists_every_group():
    out = subprocess.run([sys.executable, "-m", "mathforge.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for group in ["demo", *GROUPS]:
        assert group in out.stdout
    for group in GROUPS:
        sub = subprocess.run([sys.executable, "-m", "mathforge.cli", group, "--help"], capture_output=True, text=True)
        assert sub.returncode == 0 and "usage: mathforge " + group in sub.stdout


def test_every_stage_command_takes_a_config():
    groups = {group for group, _ in config_commands()}
    assert groups == set(GROUPS), f"groups without a config-driven command: {set(GROUPS) - groups}"


@pytest.mark.parametrize(("group", "command"), config_commands())
def test_bad_config_is_one_line_naming_it(group, command, tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    assert main([group, command, str(missing)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("mathforge: config error: ") and str(missing) in last

    bad = tmp_path / "bad.toml"
    bad.write_text("no_such_key_anywhere = 1\n")
    assert main([group, command, str(bad)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("mathforge: config error: ") and str(bad) in last and "no_such_key_anywhere" in last


def test_no_group_prints_help_and_fails(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "usage: mathforge" in capsys.readouterr().out



def test_demo_rejects_a_bad_config_before_running_anything(tmp_path, capsys):
    bad = tmp_path / "demo.toml"
    bad.write_text("[sft]\nstep = 3\n")
    out = tmp_path / "run"
    assert main(["demo", "--out", str(out), "--config", str(bad)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("mathforge: config error: ") and str(bad) in last and "sft.step" in last
    assert main(["demo", "--out", str(out), "--config", "configs/tiny/demo_ci.toml", "eval.samples='many'"]) == 2
    assert "eval.samples" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists()
