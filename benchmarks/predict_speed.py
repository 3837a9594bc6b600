"""How fast does a finished job classify new reviews?

    python benchmarks/predict_speed.py RUN_DIR [ARCHIVE] [--batch-size 64] [--limit N] [--repeat 3]

Reads the test reviews (25,000 in the full aclImdb_v1.tar.gz) from ARCHIVE (default
../shared/data/aclImdb.tar.gz, next to the repository), then times, over all of them:
  end to end   Predictor.predict(texts): tokenization, truncation, batching and the model,
  tokenize     Predictor.encode (text -> token ids) alone,
  model only   Predictor.predict_ids on ids encoded beforehand.
Each is the best of --repeat runs, after one untimed warm-up pass (graph tracing). Accuracy on these
reviews is printed as a sanity check: a bucket's model is only meant for reviews of its bucket's lengths.
Reading the archive is not timed.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from imdb_rnn import UserError, data  # noqa: E402
from imdb_rnn.predict import DEFAULT_BATCH_SIZE, THRESHOLD, load_run  # noqa: E402

DEFAULT_ARCHIVE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "aclImdb.tar.gz"


def read_test_reviews(archive: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    rows = sorted(
        (f"{label}/{review_id}", text, label == "pos")
        for split, label, review_id, text in data._iter_review_files(archive)
        if split == "test"
    )
    rows = rows[:limit] if limit else rows
    return [text for _, text, _ in rows], np.array([positive for _, _, positive in rows])


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a finished job's output dir")
    parser.add_argument("archive", type=Path, nargs="?", default=DEFAULT_ARCHIVE, help=f"aclImdb archive or folder (default {DEFAULT_ARCHIVE})")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--limit", type=int, default=None, help="only the first N test reviews (sorted by id)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each measurement; the best counts")
    args = parser.parse_args()
    if not args.archive.exists():
        parser.error(f"{args.archive} does not exist: pass an aclImdb_v1.tar.gz (or the bundled {data.SAMPLE_PATH})")

    try:
        t0 = time.perf_counter()
        predictor = load_run(args.run_dir)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        texts, positive = read_test_reviews(args.archive, args.limit)
        read_s = time.perf_counter() - t0
    except UserError as exc:
        print(f"predict_speed: error: {exc}", file=sys.stderr)
        return 1
    if not texts:
        print(f"predict_speed: error: {args.archive} has no test reviews", file=sys.stderr)
        return 1

    seqs = predictor.encode(texts)
    predictor.predict_ids(seqs, args.batch_size)  # warm-up: trace the predict graph for every batch shape
    end_to_end_s, probability = best_time(lambda: predictor.predict(texts, args.batch_size), args.repeat)
    tokenize_s, _ = best_time(lambda: predictor.encode(texts), args.repeat)
    model_s, model_probability = best_time(lambda: predictor.predict_ids(seqs, args.batch_size), args.repeat)
    assert np.allclose(probability, model_probability, atol=1e-5)

    n = len(texts)
    lengths = np.array([len(s) for s in seqs])
    print(f"run dir       {args.run_dir} (loaded in {load_s:.1f} s)")
    print(f"reviews       {n} test reviews from {args.archive} (read in {read_s:.1f} s), "
          f"{lengths.mean():.0f} tokens on average, max {lengths.max()}, model max_len {predictor.max_len}")
    print(f"batch size    {args.batch_size}; best of {args.repeat}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"end to end    {n / end_to_end_s:10.1f} reviews/s  ({end_to_end_s:.2f} s)")
    print(f"tokenize      {n / tokenize_s:10.1f} reviews/s  ({tokenize_s:.2f} s)")
    print(f"model only    {n / model_s:10.1f} reviews/s  ({model_s:.2f} s)")
    print(f"accuracy      {np.mean((probability > THRESHOLD) == positive):.4f} (all lengths, not just the job's bucket)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
