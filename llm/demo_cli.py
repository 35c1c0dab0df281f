"""`weakstrong llm demo`: a small real weak-to-strong experiment end to end, in a few minutes on a CPU.

SST-2 sentiment: a weak teacher (SmolLM2-135M cut to 4 layers, a logistic probe on gold weak-train labels)
labels w2s-train; the strong student is SmolLM2-135M cut to 16 layers with a linear head projected onto a norm
ball (a convex class, so Theorem 1 applies); the ceiling is the same student on gold labels. It prints weak,
weak-to-strong and ceiling accuracy, the performance gap recovered with its bootstrap CI, and misfit against
gain, then the commands of the full studies. It is ``weakstrong llm classify`` with these settings; every
option below can change them.

    make demo    # = weakstrong llm demo --data-dir ../shared/data --out runs/demo
"""

from __future__ import annotations

import argparse

from weakstrong.config import ascii_int
from weakstrong.llm.cli_args import check_threads
from weakstrong.progress import stage_line

HELP = "a small real weak-to-strong run (SST-2, SmolLM2 teacher and student) in minutes, with what it means"
NEXT = ("weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder",
        "weakstrong llm regression-study --data-dir ../shared/data --threads 1 --out results/regression",
        "make slurp",
        "weakstrong llm classify --help")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help=HELP, description=__doc__.split("\n\n")[0] + " " +
                                   __doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("--data-dir", default="../shared/data", help="folder holding sst2/ (default: ../shared/data)")
    parser.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    parser.add_argument("--weak", default="smollm2-135m-l4", help="the weak teacher (default: smollm2-135m-l4)")
    parser.add_argument("--strong", default="smollm2-135m-l16", help="the strong student (default: smollm2-135m-l16)")
    parser.add_argument("--radius", type=float, default=0.05,
                        help="norm-ball radius of the student's head on standardised features (default: 0.05)")
    parser.add_argument("--n-weak-train", type=ascii_int, default=1000, help="weak-train size (default: 1000)")
    parser.add_argument("--n-w2s-train", type=ascii_int, default=1000, help="w2s-train size (default: 1000)")
    parser.add_argument("--n-test", type=ascii_int, default=500, help="test size (default: 500)")
    parser.add_argument("--threads", type=ascii_int, default=None, help="torch CPU threads (default: torch's own)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from weakstrong.llm.classification.classify import ClassifyConfig
    from weakstrong.llm.classify_cli import run_into
    from weakstrong.llm.models.device import torch_threads
    from weakstrong.llm.students.classifier import ProbeConfig

    check_threads(args.threads)
    cfg = ClassifyConfig(task="sst2", data_dir=args.data_dir, weak=(args.weak,), strong=args.strong,
                         methods=("single",), students=("probe",), n_weak_train=args.n_weak_train,
                         n_w2s_train=args.n_w2s_train, n_test=args.n_test, probe=ProbeConfig(radius=args.radius))
    stage_line(f"demo: SST-2, weak {args.weak} labels {args.n_w2s_train} sentences for the strong {args.strong} "
               f"(sizes {args.n_weak_train}/{args.n_w2s_train}/{args.n_test}); a first use dequantises the model once")
    with torch_threads(args.threads):
        results = run_into(cfg, args.out)
    print(format_demo(results))
    print(f"results: {args.out}/results.json")
    return 0


def format_demo(results: dict) -> str:
    """What the run found, in words a newcomer can read, then where to go next."""
    probe = results["students"]["probe"]
    r = probe["runs"][0]
    sq = r["theory"]["sq_test"]
    pgr, ci = r["pgr"]["pgr"], r["pgr"].get("ci")
    shown_pgr = "n/a (the ceiling does not beat the teacher)" if pgr is None else (
        f"{pgr:+.2f}" + (f"  95% CI [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""))
    lines = [
        f"weak teacher   {r['teacher_test']['accuracy']:.3f}  test accuracy of {r['teacher']}",
        f"weak-to-strong {r['accuracy']:.3f}  the strong student trained on the teacher's labels",
        f"ceiling        {probe['ceiling']['accuracy']:.3f}  the same student trained on gold labels",
        f"PGR            {shown_pgr}  (share of the teacher-to-ceiling gap the student recovers)",
        f"misfit {sq['misfit']:.4f}   gain {sq['gain']:+.4f}   (squared error on probabilities)",
        "  Theorem 1: gain >= misfit when the strong class holds the truth; " + (
            "it holds here." if sq["gain"] >= sq["misfit"] else
            "here gain < misfit, so the class does not hold the truth (the ceiling is not perfect either)."),
        "next:", *[f"  {c}" for c in NEXT]]
    return "\n".join(lines)
