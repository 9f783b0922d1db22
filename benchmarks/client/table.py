"""RESULTS.md's section on the serving client, from benchmarks/client/results*.json."""

from __future__ import annotations

import glob
import json
import os
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))


def load() -> Optional[Dict[str, Any]]:
    runs = []
    for path in sorted(glob.glob(os.path.join(HERE, "results*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    return {"runs": runs} if runs else None


def lines(data: Dict[str, Any]) -> List[str]:
    out = ["## The serving client", "",
           "How many streams the serving trainable's client reads at once and how far its inter-token "
           "latencies are from the server's own write times (`benchmarks/client/`: a local server streams "
           "one event per stream at a fixed interval; 2 cores shared by both). Why the p99 is above 1 ms: "
           "[client/README.md](client/README.md).", "",
           "| command | streams | offered tokens/s | read tokens/s | ITL error p50 | p99 | max |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for run in data["runs"]:
        for row in run["rows"]:
            out.append(f"| `{run['command']}` ({run['date']}) | {row['streams']} | {row['offered_tokens_per_s']:,.0f} "
                       f"| {row['tokens_per_s']:,.0f} | {row['itl_error_p50_ms']:.2f} ms "
                       f"| {row['itl_error_p99_ms']:.1f} ms | {row['itl_error_max_ms']:.1f} ms |")
    out += ["", "Against llama-server's own numbers, at concurrency 1, six requests of `D(256,512)`: "
            "`RGP_LLAMA_HOME=<dir> pytest tests/test_llama_server.py -k counters -s` (in the suite where "
            "llama-server is built: in CI at the newest pins) checks each request against the server's "
            "`timings` of it (output tokens exactly; prompt tokens = processed + found in the slot's cache; "
            "time per output token within 10 %) and the load against its `--metrics` counters (mean TPOT "
            "within 10 % of the server's decode time per token). Three runs on 2026-12-02: mean TPOT "
            "2.646 / 2.648 ms, 3.170 / 3.171 ms, 3.044 / 3.044 ms (client / server), each of the 18 "
            "requests within 0.4 % of the server's own. With `D(256,64)` (0.4-1 ms tokens, which the "
            "server's writes group) the means agreed as well but one request in 18 read 18 % low; 512 "
            "output tokens a request make each request's decode long against that grouping.", ""]
    return out
