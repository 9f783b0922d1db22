"""How many streams the serving client carries, and how right its token times stay.

    python -m benchmarks.client.run                  # 64 to 1024 streams, about a minute
    python -m benchmarks.client.run --streams 256 --tokens 64

Against ``stream_server.py`` in its own process (one event per stream every ``--interval-ms``,
the time it wrote each one kept by the server), the package's load (``serving.load.drive``,
closed loop, every stream at once) reads the streams; each inter-token latency the client
measured is compared with the gap between the server's own write times of the same two
events. The error includes the loopback and both event loops: it is what a user's ITL numbers
carry. Writes ``benchmarks/client/results.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

from ray_graded_penalty.serving.load import LoadSpec, Request, drive
from ray_graded_penalty.serving.metrics import percentile
from ray_graded_penalty.serving.process import free_port

HERE = os.path.dirname(os.path.abspath(__file__))


def _get(port: int, path: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    data = json.loads(connection.getresponse().read())
    connection.close()
    return data


def measure(streams: int, tokens: int, interval_ms: float) -> Dict[str, float]:
    """One level: ``streams`` streams at once, ``tokens`` tokens each."""
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.join(HERE, "stream_server.py"), "--port", str(port),
                               "--interval-ms", str(interval_ms)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        requests = [Request("/v1/completions", json.dumps({"prompt": f"r{i}", "max_tokens": tokens}).encode())
                    for i in range(streams)]
        cpu = time.process_time()
        results, wall_s = drive("127.0.0.1", port, requests, LoadSpec(concurrency=streams, timeout_s=60.0),
                                lambda: server.poll() is not None)
        cpu = time.process_time() - cpu
        written = _get(port, "/times")
    finally:
        server.kill()
        server.wait()
    errors: List[float] = []
    for i, result in enumerate(results):
        server_times = written.get(f"r{i}", [])
        if not result.ok or len(server_times) != len(result.token_times):
            continue
        server_gaps = [b - a for a, b in zip(server_times, server_times[1:])]
        errors += [abs(c - s) * 1000 for c, s in zip(result.itl_s, server_gaps)]
    ok = sum(r.ok for r in results)
    return {
        "streams": streams, "tokens_per_stream": tokens, "interval_ms": interval_ms,
        "requests_ok": ok, "tokens_per_s": sum(r.output_tokens for r in results if r.ok) / wall_s,
        "offered_tokens_per_s": streams * 1000 / interval_ms, "wall_s": wall_s, "client_cpu_s": cpu,
        "itl_error_p50_ms": percentile(errors, 0.5), "itl_error_p99_ms": percentile(errors, 0.99),
        "itl_error_max_ms": max(errors, default=float("nan")), "gaps_compared": len(errors),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[64, 256, 512, 1024])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--out", default=os.path.join(HERE, "results.json"))
    args = parser.parse_args(argv)
    rows = []
    for streams in args.streams:
        row = measure(streams, args.tokens, args.interval_ms)
        rows.append(row)
        print(f"{row['streams']:>5} streams: {row['requests_ok']:>5} ok, {row['tokens_per_s']:>8.0f} tokens/s "
              f"(offered {row['offered_tokens_per_s']:.0f}), ITL error p50 {row['itl_error_p50_ms']:.3f} ms, "
              f"p99 {row['itl_error_p99_ms']:.3f} ms, max {row['itl_error_max_ms']:.2f} ms, "
              f"client CPU {row['client_cpu_s']:.1f} s of {row['wall_s']:.1f} s", flush=True)
    with open(args.out, "w") as f:
        json.dump({"command": "python -m benchmarks.client.run " + " ".join(argv or sys.argv[1:]),
                   "machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
