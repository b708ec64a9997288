"""One definition per option: a field on a config becomes a CLI flag with its help, default and validation."""
from __future__ import annotations

import dataclasses
from typing import Optional

import pytest

from helpers_cli import one_line, run_cli
from texnet.apps import cli, commands
from texnet.config import TrainConfig
from texnet.errors import ConfigError
from texnet.config.options import check_fields, option


@dataclasses.dataclass
class WithWarmup(TrainConfig):
    """TrainConfig plus a throw-away option, declared the way every option is."""

    warmup_steps: int = option(5, "steps of linear lr warm-up", low=0, commands=("train-texture",))
    warmup_note: Optional[str] = option(None, "a note", commands=("train-style",))


@pytest.fixture
def patched(monkeypatch):
    """The `texnet` command built from WithWarmup instead of TrainConfig (the only change a new option needs)."""
    help_text, description, configs, handler = cli.COMMANDS["train-texture"]
    monkeypatch.setitem(cli.COMMANDS, "train-texture", (help_text, description, (WithWarmup,) + configs[1:], handler))
    monkeypatch.setattr(commands, "TrainConfig", WithWarmup)


BASE = ["train-texture", "--texture", "sample:brick", "--out", "unused"]


def test_a_new_field_is_a_flag_with_its_help_and_default(patched, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train-texture", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--warmup-steps WARMUP_STEPS steps of linear lr warm-up (default 5)" in text
    assert "--warmup-note" not in text  # shown only where the field says


def test_a_new_field_reaches_the_config(patched):
    args = cli.build_parser().parse_args(BASE + ["--warmup-steps", "12"])
    cfg = commands.train_config(args)
    assert isinstance(cfg, WithWarmup) and cfg.warmup_steps == 12
    assert commands.train_config(cli.build_parser().parse_args(BASE)).warmup_steps == 5  # the field's default


def test_a_new_field_is_validated_by_its_declaration(patched, capsys, tmp_path):
    rc, _, err = run_cli(BASE[:-1] + [tmp_path / "o", "--warmup-steps", "-1"], capsys)
    assert rc == 1 and "--warmup-steps must be >= 0, got -1" in one_line(err)
    assert not (tmp_path / "o").exists()


def test_choices_and_bounds_are_checked_on_configs_built_in_python():
    with pytest.raises(ConfigError, match="--norm must be one of instance, batch, none"):
        check_fields(TrainConfig(norm="group"))
    with pytest.raises(ConfigError, match="--lr-decay must be <= 1"):
        check_fields(TrainConfig(lr_decay=1.5))
    with pytest.raises(ConfigError, match="--steps must be a whole number"):
        check_fields(TrainConfig(steps=2.5))


def test_every_flag_of_every_command_has_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and action.help.strip(), (name, action.option_strings)
