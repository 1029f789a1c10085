#!/usr/bin/env bash
# Sorting strategies compared by inference cost on TREC DL19 (BM25 top-100, top-10 decided):
# the exact commands behind eval/results/compare.md. Full outputs go to eval/out/compare/ (not in
# git); the figures are copied to eval/results/.
#
#   eval/compare_dl19.sh sim      # simulated judge, noise 0.1 and the robustness runs (~6 min)
#   eval/compare_dl19.sh models   # the same command with real models on a few queries (~75 min)
set -euo pipefail
cd "$(dirname "$0")/.."
RANKPIPE=${RANKPIPE:-rankpipe}
OUT=eval/out/compare
PAIRWISE=heapsort,quickselect,quicksort,sliding,allpairs,tournament,mergesort,sparse
ALL=$PAIRWISE,jointrank

sim() {
    # main run: every strategy, both prompt orders and one order, one shared in-memory cache
    $RANKPIPE compare --dataset dl19 --judge sim:noise=0.1 --strategies "$ALL" \
        --strategy heapsort:sift=sequential --orders both,one --no-cache --out "$OUT/sim-noise0.1"
    $RANKPIPE plan "$OUT/sim-noise0.1" --budget-calls 20 --batch-size 8
    $RANKPIPE plan "$OUT/sim-noise0.1" --budget-prompts 300
    $RANKPIPE plan "$OUT/sim-noise0.1" --budget-rounds 3
    cp "$OUT/sim-noise0.1/pareto.png" eval/results/compare_pareto.png
    cp "$OUT/sim-noise0.1/calls_by_batch_size.png" eval/results/compare_calls_by_batch_size.png
    # robustness of the cost ranking to the judge's noise
    for noise in 0 0.2; do
        $RANKPIPE compare --dataset dl19 --judge "sim:noise=$noise" --strategies "$PAIRWISE" \
            --strategy heapsort:sift=sequential --orders both,one --no-cache \
            --out "$OUT/sim-noise$noise"
    done
}

models() {
    # the same command with real (small, CPU) models on the first queries, top-20 candidates
    $RANKPIPE compare --dataset dl19 --depth 20 --max-queries 5 \
        --judge embed:sentence-transformers/all-MiniLM-L6-v2 --strategies "$ALL" \
        --no-cache --out "$OUT/embed"
    $RANKPIPE plan "$OUT/embed" --budget-calls 10 --batch-size 8
    $RANKPIPE compare --dataset dl19 --depth 20 --max-queries 3 \
        --judge hf:HuggingFaceTB/SmolLM2-135M-Instruct --strategies "$ALL" --batch-size 16 \
        --no-cache --out "$OUT/smollm2"
    $RANKPIPE plan "$OUT/smollm2" --budget-calls 10 --batch-size 8
    cp "$OUT/smollm2/pareto.png" eval/results/compare_smollm2_pareto.png
}

"${1:-sim}"
