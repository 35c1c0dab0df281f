"""The simulator's command line is generated from the experiment configs: every field, its default, its help."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from weakstrong.cli import main
from weakstrong.config import ConfigError, add_config_arguments, config_from_args, field_help
from weakstrong.sim import experiments


def _leaf_fields(instance, prefix=""):
    """``(flag, default)`` for every field of a default config, nested configs followed as the CLI flattens
    them (a nested config's defaults are the ones its parent sets)."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            sub = prefix if f.metadata.get("flatten") else f"{prefix}{f.name}-"
            yield from _leaf_fields(value, sub)
            continue
        yield "--" + prefix + f.name.replace("_", "-"), value


def _shown(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize("name", experiments.names())
def test_help_lists_every_config_field_with_its_default(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sim", name, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())   # argparse wraps lines
    config = experiments.get(name).config
    flags = list(_leaf_fields(config()))
    assert flags, name
    for flag, default in flags:
        assert flag in text, f"{name}: {flag} missing from --help"
        assert f"(default: {_shown(default)})" in text, f"{name}: default of {flag} ({default!r}) not shown"


def test_a_new_config_field_is_one_place_change():
    @dataclasses.dataclass(frozen=True)
    class Demo:
        tasks: int = 100              # fine-tuning tasks
        noise: float = 0.5            # relative noise
        sizes: tuple[int, ...] = (1, 2)
        flag: bool = False            # a switch
        label: str | None = None      # an optional name

        def validate(self):
            if self.tasks < 1:
                raise ConfigError(f"Demo.tasks must be >= 1, got {self.tasks}")
            return self

    import argparse

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Demo)
    assert field_help(Demo)["noise"] == "relative noise"
    config = config_from_args(Demo, parser.parse_args(["--noise", "0.25", "--sizes", "3", "--flag", "--label", "x"]))
    assert config == Demo(noise=0.25, sizes=(3,), flag=True, label="x")
    with pytest.raises(ConfigError, match="tasks"):
        config_from_args(Demo, parser.parse_args(["--tasks", "0"]))


def test_bad_value_is_one_line_naming_the_field(tmp_path, capsys):
    assert main(["sim", "charikar", "--tasks", "0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--tasks must be" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    (tmp_path / "file").write_text("x")
    assert main(["sim", "selection", "--worlds", "2", "--out", str(tmp_path / "file")]) == 2
    assert "--out" in capsys.readouterr().err
