"""`weakstrong llm generate`: weak ensemble -> strong generator on SLURP slot filling, ``OUT/results.json``.

The options are generated from :class:`weakstrong.llm.generation.config.GenerateConfig` (fine-tuning as
``--finetune-*``, DPO as ``--dpo-*``), so every default and help text lives in the dataclass. Light module:
the pipeline (and torch) is imported only when it runs.

Example (the offline SmolLM2 decoder as the strong model; weak models of two tokenizer families: a SmolLM2
depth truncation and a rung pretrained by ``weakstrong llm pretrain --presets gpt-4m --out runs/ladder``)::

    weakstrong llm generate --data-dir ../shared/data/slurp \\
        --weak smollm2-135m-l12,runs/ladder/gpt-4m --strong smollm2-135m \\
        --methods single,multi,joint,bayes --dpo --seed 0 --threads 1 --out results/slurp_smollm2
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from weakstrong.config import ConfigError, add_config_arguments, config_from_args
from weakstrong.llm.cli_args import expand_all, split_commas
from weakstrong.llm.generation.config import METHODS, OFFICIAL_SPLITS, DPOConfig, GenerateConfig, LMFinetuneConfig

HELP = "weak-ensemble -> strong generation (SLURP slot filling)"
# Sub-config fields with no option of their own: each follows the named top-level option.
DERIVED = {"finetune.seed": "--seed", "dpo_config.seed": "--seed"}


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm generate``."""
    parser = subparsers.add_parser(
        "generate", help=HELP, description=f"{HELP}. Writes OUT/results.json and caches every stage in OUT.",
        epilog="List options take values separated by spaces (model and method lists also by commas); "
               "--methods also takes 'all'. The fine-tuning and DPO seeds follow --seed.")
    add_config_arguments(parser, GenerateConfig, exclude=tuple(DERIVED), title="experiment (GenerateConfig)")
    weak = parser.add_argument_group("weak supervisors' fine-tuning (GenerateConfig.weak_finetune)",
                                     "the --finetune-* settings with these replaced (default: the same)")
    weak.add_argument("--weak-lr", type=float, default=None, help="learning rate of the weak models")
    weak.add_argument("--weak-epochs", type=int, default=None, help="epochs of the weak models")
    weak.add_argument("--weak-train-top-k", default=None, metavar="INT",
                      help="train only the weak models' last K layers (default: every layer, whatever "
                           "--finetune-train-top-k says: the weak models may be shallower than the strong one)")
    run_options = parser.add_argument_group("run")
    run_options.add_argument("--out", required=True, help="output folder (stages cached there; results.json)")
    run_options.add_argument("--official-splits", nargs="+", default=None, metavar="FILE",
                             help="official split files WEAK W2S TEST (jsonl) instead of the seeded halves of "
                                  "devel and the official test file (GenerateConfig.official)")
    run_options.add_argument("--results-name", default="results.json", metavar="FILE",
                             help="the results file in OUT (default: results.json); ablations of the strategy "
                                  "settings run in the same OUT under another name, reusing every shared stage")
    run_options.add_argument("--device", default=None,
                             help="torch device (default: cuda if available, else cpu)")
    run_options.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    run_options.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def config_from_namespace(args: argparse.Namespace) -> GenerateConfig:
    """The validated :class:`GenerateConfig` the parsed options describe (:class:`ConfigError` if invalid)."""
    official = None
    if args.official_splits is not None:
        files = split_commas(args.official_splits)
        if len(files) != len(OFFICIAL_SPLITS):
            raise ConfigError(f"--official-splits needs three files: WEAK W2S TEST, got {list(files)}")
        official = dict(zip(OFFICIAL_SPLITS, files))
    finetune = config_from_args(LMFinetuneConfig, args, "finetune__", seed=args.seed)
    weak_top_k = None
    if args.weak_train_top_k is not None and args.weak_train_top_k.lower() != "none":
        try:
            weak_top_k = int(args.weak_train_top_k)
        except ValueError:
            raise ConfigError(f"--weak-train-top-k must be an integer or none, got {args.weak_train_top_k!r}") from None
    weak_finetune = None
    if args.weak_lr is not None or args.weak_epochs is not None or weak_top_k != finetune.train_top_k:
        weak_finetune = replace(finetune, lr=finetune.lr if args.weak_lr is None else args.weak_lr,
                                epochs=finetune.epochs if args.weak_epochs is None else args.weak_epochs,
                                train_top_k=weak_top_k)
    return config_from_args(
        GenerateConfig, args, weak=split_commas(args.weak),
        methods=expand_all(split_commas(args.methods), METHODS), finetune=finetune, weak_finetune=weak_finetune,
        dpo_config=config_from_args(DPOConfig, args, "dpo_config__", seed=args.seed), official=official)


def run(args: argparse.Namespace) -> int:
    """Check the options, the folder and the inputs, then run every stage in ``--out`` and write
    ``OUT/results.json`` (written last: its presence marks a finished run)."""
    from weakstrong.llm.models.device import distributed_from_env

    with distributed_from_env():  # under torchrun: fine-tuning on every rank (DDP), rank 0 alone writes
        results = _run(args)
    print(format_summary(results))
    return 0


def _run(args: argparse.Namespace) -> dict:
    from weakstrong.io import check_output_dir, write_json
    from weakstrong.llm.generation.generate import prepare, run_generate
    from weakstrong.llm.generation.stages import GenerationStages
    from weakstrong.llm.models.device import torch_threads
    from weakstrong.llm.models.options import RunOptions
    from weakstrong.stages import StageFolder, main_process

    config = config_from_namespace(args)
    options = RunOptions(device=args.device, threads=args.threads, progress=not args.no_progress).validate()
    check_output_dir(args.out, "--out")
    name = _results_name(args.results_name)
    with torch_threads(options.threads):
        prepared = prepare(config, options)
        # refuses another configuration's folder; writes nothing
        folder = StageFolder(args.out, config.identity(), finished=name)
        # Only now, every check passed, does the run take its folder: a run refused for bad input leaves the
        # folder as it was, and a second run into it is refused.
        with folder.claim():
            results = run_generate(config, GenerationStages(folder, prepared.device, prepared.dtype,
                                                            options.progress), prepared)
            if main_process():
                write_json(folder.root / name, results)
    return results


def _results_name(name: str) -> str:
    if not name.endswith(".json") or "/" in name or name.startswith(".") or name == "run.json":
        raise ConfigError(f"--results-name must be a file name ending in .json (not run.json), got {name!r}")
    return name


def format_summary(results: dict) -> str:
    """Weak, ceiling and strategy SLU-F1 / EM with intervals, PGR, the misfit views, the guard, throughput."""
    def ci(s, key):
        lo, hi = s.get("ci", {}).get(key, [None, None])
        return "" if lo is None else f" [{lo:.3f}, {hi:.3f}]"

    def row(name, s):
        return (f"  {name:<30} SLU-F1 {s['slu_f1']:.3f}{ci(s, 'slu_f1')}  EM {s['exact_match']:.3f}"
                f"{ci(s, 'exact_match')}")

    lines = [f"SLURP {results['splits']}"]
    lines += [row(f"weak {w['name']}", w) for w in results["weak"]]
    lines.append(row("ceiling", results["ceiling"]))
    for name, s in results["strategies"].items():
        p, v, t = s["pgr_slu_f1"], s["misfit_view"], s.get("token_view")
        lo, hi = s.get("pgr_slu_f1_ci", [None, None])
        pgr = "n/a" if p is None else f"{p:+.2f}" + ("" if lo is None else f" [{lo:+.2f}, {hi:+.2f}]")
        lines.append(row(name, s) + f"  PGR {pgr}  word misfit {v['misfit']:.4f} gain {v['gain']:+.4f}"
                     + ("" if t is None else f"  token misfit {t['misfit']:.4f} gain {t['gain']:+.4f}")
                     + ("" if t is None or "ci" not in t else
                        " (gain - misfit in [{:+.3f}, {:+.3f}])".format(*t["ci"]["gain_minus_misfit"])))
        if "dpo_delta" in s:
            d = s["dpo_delta"]["slu_f1"]
            lines.append(f"  {'':<30} DPO delta SLU-F1 {d['delta']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]")
    for name, d in results.get("comparison", {}).items():
        d = d["slu_f1"]
        lines.append(f"  {name.replace('-', ' - ', 1):<30} SLU-F1 {d['delta']:+.3f} [{d['ci'][0]:+.3f}, "
                     f"{d['ci'][1]:+.3f}] (paired)")
    for question, entry in results.get("answers", {}).items():
        p = entry["pooled"]
        seeds = ", ".join(f"seed {k} {v['delta']:+.3f}" for k, v in entry["per_seed"].items())
        lines.append(f"  {question:<30} SLU-F1 {p['delta']:+.3f} [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}] pooled over "
                     f"{p['n_seeds']} seed(s) ({seeds})")
    guard = results.get("non_degenerate")
    if guard is not None:
        lines.append("  non-degenerate: yes" if guard["ok"] else
                     "  non-degenerate: NO (" + "; ".join(guard["problems"]) + ")")
    lines += throughput_lines(results.get("throughput") or {})
    lines.append(f"  timings_s total {sum(results['timings_s'].values()):.1f}")
    return "\n".join(lines)


def throughput_lines(tp: dict) -> list[str]:
    """The strong model's fine-tuning and decoding rates, each as a share of this machine's faster matmul."""
    lines = []
    for key, label, unit in (("strong_finetune", "strong fine-tuning", "tokens_per_s"),
                             ("strong_decode", "strong decoding", "new_tokens_per_s")):
        x = tp.get(key)
        if x:
            # The share of the faster matmul of this machine: bf16 where it is native, fp32 where bf16 is
            # emulated (on an AVX2-only CPU bf16 runs ~100x slower, and a share of it reads 1733 %).
            rates = tp.get("matmul") or {}
            best = max(("bf16", "fp32"), key=lambda d: rates.get(f"{d}_gflops") or 0.0) if rates else None
            frac = None if best is None else x["gflops"] / rates[f"{best}_gflops"]
            per_cpu = rates.get(f"{best}_gflops_per_cpu_s") if best else None
            frac_cpu = x["gflops_per_cpu_s"] / per_cpu if per_cpu and x.get("gflops_per_cpu_s") else None
            lines.append(f"  {label}: {x[unit]:.0f} tok/s ({x[unit.replace('_per_s', '_per_cpu_s')]:.0f} per "
                         f"CPU-s), {x['gflops']:.1f} GFLOP/s"
                         + ("" if frac is None else f" = {frac:.1%} of the {best} matmul rate "
                                                    f"({rates[f'{best}_gflops']:.0f} GFLOP/s, the faster here)")
                         + ("" if frac_cpu is None else f", {frac_cpu:.1%} per CPU-second"))
    return lines
