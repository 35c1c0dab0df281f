"""`weakstrong llm generate-bench`: the strong student's cost on SLURP, bf16 autocast against float32 and full
fine-tuning against the top K layers (:mod:`weakstrong.llm.generation.bench`); ``OUT/bench.json``.

Its own parser (forwarded by ``weakstrong llm``); the benchmark is imported only when it runs.
"""

from __future__ import annotations

import contextlib

from weakstrong.config import OneLineParser, ascii_int

PROG = "weakstrong llm generate-bench"
# Settings that only add variants, or say where the run goes: not part of what a cached variant measured.
NOT_IDENTITY = ("out", "data_dir", "top_k", "no_full", "no_autocast_check")


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    parser = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="SLURP folder or the data root holding slurp/")
    parser.add_argument("--model", default="smollm2-135m", help="the strong decoder (registry name, folder, hub id)")
    parser.add_argument("--n-train", type=ascii_int, default=300, help="devel utterances to fine-tune on")
    parser.add_argument("--n-test", type=ascii_int, default=100, help="official test utterances to score")
    parser.add_argument("--top-k", default="4,8", help="comma-separated K values to compare with full fine-tuning")
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate of full fine-tuning")
    parser.add_argument("--top-k-lr", type=float, default=None, help="learning rate of top-K (default: --lr)")
    parser.add_argument("--epochs", type=ascii_int, default=3)
    parser.add_argument("--batch-size", type=ascii_int, default=16)
    parser.add_argument("--max-new-tokens", type=ascii_int, default=48)
    parser.add_argument("--no-full", action="store_true", help="skip the full fine-tuning variant")
    parser.add_argument("--no-autocast-check", action="store_true")
    parser.add_argument("--seed", type=ascii_int, default=0)
    parser.add_argument("--threads", type=ascii_int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from weakstrong.io import write_json
    from weakstrong.llm.generation.bench import run_bench
    from weakstrong.stages import StageFolder

    stages = StageFolder(args.out, {k: v for k, v in vars(args).items() if k not in NOT_IDENTITY},
                         finished="bench.json")
    with stages.claim():
        results = run_bench(args, stages)
        write_json(stages.root / "bench.json", results)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
