"""eval/bench_gpu.py --smoke: the GPU benchmark's whole path (shapes from config, ceiling, judge end
to end, all-pairs with and without prefix reuse, decode steps, executor runs, table and JSON) on
tiny shapes on the CPU. Its numbers are not checked: only that each is measured and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_smoke_mode_measures_everything_and_prints_the_table(tmp_path: Path) -> None:
    output = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "eval" / "bench_gpu.py"), "--smoke", "--batches", "1,2",
         "--output", str(output)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(output.read_text())
    assert report["smoke"] and set(report["shapes"]) == {"tiny-qwen2", "tiny-t5"}
    causal, t5 = report["shapes"]["tiny-qwen2"], report["shapes"]["tiny-t5"]
    for shape in (causal, t5):
        assert set(shape["ceiling"]) == set(shape["judge"]) == {"1", "2"}
        assert all(v > 0 for v in [*shape["ceiling"].values(), *shape["judge"].values()])
    pairs = causal["allpairs_top100"]
    assert pairs["measured_prompts"] == 2 * 9 and pairs["extrapolated_x"] == 5
    assert pairs["plain"]["judgments_per_s"] > 0 and pairs["prefix_reuse"]["judgments_per_s"] > 0
    assert set(causal["decode_steps_per_s"]) == {"1", "16", "64"}
    for strategy in ("quickselect", "heapsort"):
        assert causal["dl19_e2e"][strategy]["prompts"] > 0
    assert "allpairs_top100" not in t5  # encoder-decoders have no prefix reuse
    table = done.stdout[done.stdout.index("judgments/s: plain-forward ceiling"):]
    assert "tiny-qwen2" in table and "extrapolated to 43 queries" in table
    assert done.stdout.rstrip().endswith(f"wrote {output} ({report['wall_s']:.0f} s)")
