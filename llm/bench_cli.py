"""`weakstrong llm bench` (``make bench-llm``): tokens/s of frozen features and top-K fine-tuning against the
machine's matmul rate, side by side in one run; ``OUT/bench.json`` (:mod:`weakstrong.llm.models.bench`).

Its own parser (forwarded by ``weakstrong llm``); the benchmark is imported only when it runs.
"""

from __future__ import annotations

from weakstrong.config import OneLineParser, ascii_int

PROG = "weakstrong llm bench"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    parser = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="registry name, HF id or path (default: %(default)s)")
    parser.add_argument("--threads", type=ascii_int, nargs="+", default=[1, 2], help="torch CPU threads (default: 1 2)")
    parser.add_argument("--texts", type=ascii_int, default=256,
                        help="sentences per feature pass (default: %(default)s)")
    parser.add_argument("--batch-size", type=ascii_int, default=32, help="texts per batch of the feature passes and sequences per fine-tuning step (default: %(default)s)")
    parser.add_argument("--top-k", type=ascii_int, default=2, help="layers a fine-tuned student trains (default: 2)")
    parser.add_argument("--steps", type=ascii_int, default=4, help="training steps per timing (default: %(default)s)")
    parser.add_argument("--matmul-size", type=ascii_int, default=1024,
                        help="side of the square matmul whose rate is the yardstick (default: %(default)s)")
    parser.add_argument("--repeats", type=ascii_int, default=3, help="timings per row; the median is kept (default: 3)")
    parser.add_argument("--out", default="results/llm_bench", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("texts", "batch_size", "top_k", "steps", "repeats", "matmul_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if any(t < 1 for t in args.threads):
        parser.error(f"--threads must be >= 1, got {args.threads}")
    from weakstrong.io import check_output_dir, output_lock, write_json
    from weakstrong.llm.models.bench import run

    out = check_output_dir(args.out, "--out")
    results = run(args)
    with output_lock(out, "--out"):
        write_json(out / "bench.json", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
