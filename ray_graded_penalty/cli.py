"""Command line: ``python -m ray_graded_penalty demo``."""

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
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.samples < 1:
            parser.error(f"--samples must be at least 1, got {args.samples}")
        if not args.timeout > 0:
            parser.error(f"--timeout must be positive, got {args.timeout}")
        from ray_graded_penalty.demo import main as run_demo

        return run_demo(args.samples, args.timeout, args.seed, args.storage_path)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
