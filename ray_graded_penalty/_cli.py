"""Command line: ``python -m ray_graded_penalty demo`` and ``... report EXPERIMENT_DIR``."""

from __future__ import annotations

import argparse
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ray-graded-penalty", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="tune a simulated LLM server on a local Ray")
    demo.add_argument("--samples", type=int, default=24, help="number of trials (default 24)")
    demo.add_argument("--timeout", type=float, default=3.0, help="per-trial timeout in s (default 3)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--storage-path", default=None, help="where Ray Tune writes results")
    report = commands.add_parser("report", help="why trials failed: tables, a CSV and plots")
    report.add_argument("experiment_dir", help="a Ray Tune experiment directory")
    report.add_argument("--out", default=None, help="where to write the CSV and PNGs (default: print only)")
    report.add_argument("--metric", default=None, help="the metric, for runs without this package's searcher")
    report.add_argument("--mode", default=None, choices=("max", "min"),
                        help="the metric's mode, for runs without this package's searcher (its saved state wins)")
    args = parser.parse_args(argv)
    if args.command == "report":
        return _report(args.experiment_dir, args.out, args.metric, args.mode)
    # the demo: argparse refuses any other command
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")
    if not args.timeout > 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    from ray_graded_penalty.demo import main as run_demo

    return run_demo(args.samples, args.timeout, args.seed, args.storage_path)


def _report(experiment_dir: str, out: Optional[str], metric: Optional[str], mode: Optional[str]) -> int:
    import os
    import pickle
    import sys

    from ray_graded_penalty.plots import plot_report
    from ray_graded_penalty.report import NotAnExperimentError, failure_report, format_summary, summarize

    if out and os.path.exists(out) and not os.path.isdir(out):
        print(f"error: --out {out!r} is a file; it names the directory for the CSV and the plots", file=sys.stderr)
        return 1
    try:
        report = failure_report(experiment_dir, metric=metric, mode=mode)
    except NotAnExperimentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, ImportError, AttributeError, EOFError, pickle.UnpicklingError) as exc:
        # Ray's own reader of the directory: a state file cut short, or objects pickled in it
        # (a stopper, a trainable, Ray's file system) that do not load here
        hint = ("; the run's own modules (its trainable, a stopper) must be importable here: run from "
                "its directory or put it on PYTHONPATH" if isinstance(exc, ImportError) else
                "; it may have been written by another Ray or pyarrow" if isinstance(exc, AttributeError) else "")
        print(f"error: cannot read the experiment in {experiment_dir!r}: {type(exc).__name__}: {exc}{hint}",
              file=sys.stderr)
        return 1
    print(format_summary(report, summarize(report)))
    if out:
        try:
            os.makedirs(out, exist_ok=True)
            csv = os.path.join(out, "failure_report.csv")
            report.to_csv(csv, index=False)
            plots = plot_report(report, out)
        except ImportError:
            print(f"\nwrote {csv}; plots need matplotlib: pip install 'ray-graded-penalty[plots]'")
            return 0
        except OSError as exc:  # --out names a file, or a directory not writable here
            print(f"error: cannot write the report in {out!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(f"\nwrote {csv} and {len(plots)} plots in {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
