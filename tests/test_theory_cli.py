"""`weakstrong theory check`: the table, the JSON, and the exit code."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.config import ConfigError
from weakstrong.io import read_json
from weakstrong.theory import check
from weakstrong.theory.boundcheck import make_check


def test_check_passes_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert main(["theory", "check", "--instances", "15", "--seed", "3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "statement" in printed and "violations" in printed
    assert "no violations" in printed
    report = read_json(out)
    assert report["config"] == {"instances": 15, "seed": 3}
    assert [row["statement"] for row in report["statements"]] == [s.name for s in check.STATEMENTS]
    assert all(row["instances"] == 15 and row["violations"] == 0 for row in report["statements"])
    assert report["violated"] == []


def _always_violated(rng: np.random.Generator, size: check.InstanceSize):
    return make_check("broken", {"x": 1.0}, lhs=1.0, bound=0.0, rtol=1e-8)


def test_check_exits_1_when_a_statement_that_must_hold_is_violated(monkeypatch, capsys):
    monkeypatch.setattr(check, "STATEMENTS", (check.Statement("broken", _always_violated),))
    assert main(["theory", "check", "--instances", "3"]) == 1
    assert "VIOLATED: broken" in capsys.readouterr().out


def test_high_probability_statements_do_not_fail_the_check(monkeypatch):
    monkeypatch.setattr(check, "STATEMENTS", (check.Statement("whp", _always_violated, must_hold=False),))
    assert main(["theory", "check", "--instances", "3"]) == 0


def test_bad_instance_count_is_a_clear_error(capsys):
    assert main(["theory", "check", "--instances", "0"]) == 2
    assert "--instances must be an integer >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(check.CheckConfig)])
def test_every_check_option_is_validated_and_named(field, capsys):
    flag = "--" + field.replace("_", "-")
    bad = check.CheckConfig.MINIMUMS[field] - 1  # -1 for --seed
    assert main(["theory", "check", flag, str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{flag} must be an integer >= {bad + 1}, got {bad}" in err
    with pytest.raises(ConfigError, match=rf"CheckConfig\.{field} must be an integer"):
        check.CheckConfig(**{field: bad})
    with pytest.raises(ConfigError, match=rf"CheckConfig\.{field} must be an integer"):
        check.CheckConfig(**{field: 2.5})


def test_rows_do_not_depend_on_which_statements_ran():
    config = check.CheckConfig(instances=5, seed=7)
    alone = check.run_checks(config, (check.STATEMENTS[2],))[0]
    together = check.run_checks(config, check.STATEMENTS[:3])[2]
    assert alone.worst_slack == together.worst_slack and alone.max_slack == together.max_slack
