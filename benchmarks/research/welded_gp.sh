#!/usr/bin/env bash
# Issue 34's last cells: GPSampler on welded_beam, bare and wrapped, one seed a file, so that
# the cells grow across sessions (a wrapped run there tells the GP up to about 1,200 trials and
# took 3 to 111 minutes of wall time here, 2026-12-06). Resumable: a cell whose file exists is skipped,
# and a cell cut off goes on from its checkpoint (<cell>.ckpt, saved every 10 minutes, not committed).
#   bash benchmarks/research/welded_gp.sh 2    # two cells at once; `touch <out>/STOP` ends it
#                                              # after the cells running finish
#   SEEDS="18 19 13" bash benchmarks/research/welded_gp.sh 2   # these seeds first, in this order
set -uo pipefail
cd "$(dirname "$0")/../.."
out=benchmarks/research/welded_gp
claims=${TMPDIR:-/tmp}/welded_gp_claims  # a cell's worker claims it here; run one script at a time:
rm -rf "$claims" "$out"/*.part             # a cell cut off by an earlier run resumes from its .ckpt
mkdir -p "$claims"
worker() {
    for w in 16 1; do
        for s in ${SEEDS:-} $(seq 0 19); do
            for side in bare wrapped; do
                f="$out/${side}_w${w}_s${s}.json"
                [ -e "$out/STOP" ] && return
                [ -e "$f" ] && continue
                mkdir "$claims/${side}_w${w}_s${s}" 2>/dev/null || continue
                PYTHONPATH=. python -m benchmarks.research.gp_told --methods "$side:gp" --problems welded_beam \
                    --workers "$w" --first-seed "$s" --seeds 1 --processes 1 --out "$f.part" \
                    --checkpoint "$out/${side}_w${w}_s${s}.ckpt" && mv "$f.part" "$f" && rm -f "$out/${side}_w${w}_s${s}.ckpt"
                echo "$(date -u +%H:%M) $f $?"
            done
        done
    done
}
for _ in $(seq "${1:-1}"); do worker & done
wait
