"""Record a space of real llama-server outcomes once, to replay for many seeds (issue 25, step 1).

    bash examples/llama_server/setup.sh                        # once: llama-server and its tools
    python -m benchmarks.serving_space.record                  # the whole grid (see --help)
    python -m benchmarks.serving_space.record --limit 6        # a smoke run of six configurations

Every configuration of :data:`GRID` is deployed through the serving trainable's own trial
(``serving.trial.serve``: start, ready, load, stop), with no Ray: its outcome (``ok`` or the
stage it failed at), the class the default policy grades it with, the server's own error
text, the seconds until it failed or finished, and the load's metrics. Each configuration
that served is measured ``--repeats`` times (default 2), to record the spread. The model is a
random-weight llama large enough that loading it takes real time (``--layers``, ``--dim``:
about 540 MB at the defaults, read into memory (``--load-mode none``), not mapped, so that
loading takes its time), under an address-space limit (``--memory-gb``) tight enough that most of the grid
fails for real: the KV cache or the compute buffers do not fit, the per-slot context cannot
hold a request. Writes ``benchmarks/serving_space/space.csv`` (one row per measurement) and
``meta.json`` (the command, the llama.cpp version, the machine, how long it took).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty._core.judge import classify
from ray_graded_penalty.callback import read_exception
from ray_graded_penalty.serving import ServerError, server_trainable
from ray_graded_penalty.serving.trial import serve

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HOME = os.environ.get("RGP_LLAMA_HOME", os.path.expanduser("~/.cache/ray-graded-penalty/llama.cpp"))

#: The knobs, as examples/llama_server/tune.py tunes them (batch and micro-batch as pairs).
GRID = {
    "slots": [1, 2, 4, 8],
    "ctx": [512, 1024, 2048, 4096, 8192, 16384, 32768],
    "batch_ubatch": [(64, 32), (512, 128), (2048, 512)],
    "threads": [1, 2],
}
COMMAND = ("{server} -m {model} --host {host} --port {port} -np {slots} -c {ctx} -b {batch} -ub {ubatch} "
           "-t {threads} --no-warmup --load-mode none")
METRICS = ("throughput", "request_throughput", "ttft_p99_s", "tpot_mean_s", "itl_p99_s", "e2el_p99_s",
           "input_tokens", "output_tokens", "ready_s")
COLUMNS = ("slots", "ctx", "batch", "ubatch", "threads", "repeat", "outcome", "error_class", "elapsed_s",
           "error") + METRICS


def configs() -> List[Dict[str, int]]:
    """Every configuration of the grid, in a fixed order."""
    out = []
    for slots, ctx, (batch, ubatch), threads in itertools.product(*GRID.values()):
        out.append({"slots": slots, "ctx": ctx, "batch": batch, "ubatch": ubatch, "threads": threads})
    return out


def make_model(path: str, layers: int, dim: int) -> None:
    gguf_py = os.path.join(HOME, "src", "llama_cpp_python-0.3.36", "vendor", "llama.cpp", "gguf-py")
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "llama_server", "make_model.py"), path,
                    "--layers", str(layers), "--dim", str(dim), "--heads", str(max(4, dim // 64))],
                   check=True, env={**os.environ, "PYTHONPATH": gguf_py})


def measure(spec: Any, config: Dict[str, int], policy: PenaltyPolicy) -> Dict[str, Any]:
    """One deployment of ``config``: its outcome and metrics, or the stage and text of its failure."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as log_dir:
        try:
            metrics = serve(spec, config, log_dir)
        except ServerError as error:
            return {"outcome": error.stage, "elapsed_s": round(time.monotonic() - start, 3),
                    "error_class": classify(read_exception(error), policy),
                    "error": str(error).splitlines()[0][:300]}
    row: Dict[str, Any] = {"outcome": "ok", "elapsed_s": round(time.monotonic() - start, 3), "error_class": ""}
    row.update({name: metrics.get(name) for name in METRICS})
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--memory-gb", type=float, default=0.95)
    parser.add_argument("--scenario", default="D(128,32)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--requests", type=int, default=4, help="per load")
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each configuration that served")
    parser.add_argument("--limit", type=int, default=None, help="only the first N configurations (a smoke run)")
    parser.add_argument("--out", default=HERE)
    args = parser.parse_args(argv)
    server = os.path.join(HOME, "bin", "llama-server")
    if not os.path.exists(server):
        sys.exit(f"{server} is missing: run `bash examples/llama_server/setup.sh` first")
    model = os.path.join(HOME, f"model-{args.layers}x{args.dim}.gguf")
    if not os.path.exists(model):
        make_model(model, args.layers, args.dim)
    trainable = server_trainable(
        COMMAND, server=server, model=model, scenarios=args.scenario, concurrency=args.concurrency,
        requests=args.requests, ready_timeout_s=60, request_timeout_s=60, memory_limit_gb=args.memory_gb,
        env={"MALLOC_ARENA_MAX": "2", "OMP_WAIT_POLICY": "passive"})
    policy, started, rows = PenaltyPolicy(), time.monotonic(), []
    grid = configs()[:args.limit]
    for i, config in enumerate(grid):
        for repeat in range(args.repeats):
            row = {**config, "repeat": repeat, **measure(trainable.spec, config, policy)}
            rows.append(row)
            print(f"{i + 1}/{len(grid)} {config} {row['outcome']} {row['elapsed_s']:.1f} s "
                  f"{row.get('throughput') or row.get('error', '')}", flush=True)
            if row["outcome"] != "ok":
                break  # a failure is measured once: its outcome is the server's, not the load's
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "space.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    version = subprocess.run([server, "--version"], capture_output=True, text=True).stderr.strip().splitlines()
    meta = {"command": "python -m benchmarks.serving_space.record " + " ".join(argv or sys.argv[1:]),
            "llama_cpp": version[:2], "model": {"layers": args.layers, "dim": args.dim,
                                                 "bytes": os.path.getsize(model)},
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "date": time.strftime("%Y-%m-%d"), "seconds": round(time.monotonic() - started),
            "configurations": len(grid), "measurements": len(rows)}
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    failed = sum(1 for c in grid if any(r["outcome"] != "ok" for r in rows if all(r[k] == c[k] for k in c)))
    print(f"{failed} of {len(grid)} configurations failed; {meta['seconds']} s")


if __name__ == "__main__":
    main()
