"""How long does `compare --blend-search` take for a bucket of many cells?

    python benchmarks/blend_search_speed.py [--cells 16] [--seeds 10] [--test 6379] [--val 1234]

Writes, in a temporary dir, the saved predictions of cells x seeds finished jobs of one bucket (random
probabilities: the search's time does not depend on them; the defaults are 0_129's test and validation
sizes), then times `blending.blend_search` over them: 2**cells - 1 blends, each scored on validation seed
by seed and on test. Reading the prediction files is timed too, as compare does it.
"""

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn.blending import MAX_SEARCHED_CELLS, blend_search


def write_jobs(root: Path, cells: int, seeds: int, n_test: int, n_val: int) -> pd.DataFrame:
    """compare's table of cells x seeds complete jobs of bucket 0_129, each with its predictions files."""
    rng = np.random.default_rng(0)
    test_labels, val_labels = rng.integers(0, 2, n_test), {s: rng.integers(0, 2, n_val) for s in range(seeds)}
    rows = []
    for cell in range(cells):
        for seed in range(seeds):
            job = root / f"cell{cell},seed={seed}"
            job.mkdir()
            for name, labels in (("predictions.csv", test_labels), ("val_predictions.csv", val_labels[seed])):
                pd.DataFrame({"review_id": np.arange(len(labels)), "length": 100, "label": labels,
                              "probability": rng.random(len(labels))}).to_csv(job / name, index=False)
            rows.append({"architecture": "gru", "variant": f"cell{cell}", "status": "complete", "seed": seed,
                         "bucket": "0_129", "job_dir": str(job), "n_val": n_val})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=MAX_SEARCHED_CELLS)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--test", type=int, default=6379, help="test reviews (0_129: 6,379; all lengths: 25,000)")
    parser.add_argument("--val", type=int, default=1234, help="validation reviews per seed (0_129: 1,234)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = write_jobs(Path(tmp), args.cells, args.seeds, args.test, args.val)
        start = time.perf_counter()
        found = blend_search(table)
        seconds = time.perf_counter() - start
    print(f"{platform.processor() or platform.machine()}: {len(found):,} blends of {args.cells} cells x {args.seeds} seeds "
          f"({args.test:,} test, {args.val:,} validation reviews) scored in {seconds:.1f} s")


if __name__ == "__main__":
    main()
