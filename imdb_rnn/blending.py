"""Seed ensembles and blends: the mean predicted probability of several finished jobs (a cell's seeds; a
bucket's cells, e.g. a GRU and an LSTM), scored from the predictions.csv and val_predictions.csv they
saved, nothing re-run. `python -m imdb_rnn.compare` writes them as ensembles.csv, blends.csv (--blend) and
blend_search.csv (--blend-search). Validation picks a blend; test accuracy is read after, never used to choose.
"""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from imdb_rnn.results import CompareError, cell_label, is_correct, range_edges, read_predictions


def ensemble_table(table: pd.DataFrame) -> pd.DataFrame:
    """ensembles.csv: for every cell with two or more complete jobs (its seeds), the test accuracy of
    their averaged predicted probability, from the jobs' predictions.csv; a bucket=all cell is also
    scored on each of its test_by_length ranges ("<arch> (bucket all)", as in the main table)."""
    done = table[table["status"] == "complete"]
    rows = []
    for (_, bucket), group in done.groupby([done.apply(cell_label, axis=1), "bucket"], sort=False):
        if len(group) < 2:
            continue
        test = _mean_probability([read_predictions(Path(job_dir)) for job_dir in group["job_dir"]])
        if test is None:
            continue  # a job without its predictions: no ensemble to score
        first = group.iloc[0]
        variant = f"{first['variant']} (bucket {bucket})".strip()
        for name, low, high, hits in _scored_ranges(group, bucket, test):
            rows.append({"architecture": first["architecture"], "variant": first["variant"] if name == bucket else variant,
                         "bucket": name, "min_len": low, "max_len": high, "n_models": len(group), "n_test": len(hits),
                         "test_accuracy": float(hits.mean()), "status": "complete"})
    return pd.DataFrame(rows, columns=["architecture", "variant", "bucket", "min_len", "max_len", "n_models", "n_test",
                                       "test_accuracy", "status"])


def blend_table(table: pd.DataFrame) -> pd.DataFrame:
    """blends.csv (--blend): per bucket, the mean probability of every cell there (e.g. a GRU and the
    linear baseline), seed by seed: jobs of one seed share their validation reviews, so each seed's
    blend is scored on validation too, against its cells' own val_accuracy. Then the blend of all
    seeds (seed "all", test only: each seed validated on reviews the others learned from)."""
    done = table[(table["status"] == "complete") & table["seed"].notna()].assign(cell=lambda t: t.apply(cell_label, axis=1))
    rows = []
    for bucket, group in done.groupby("bucket", sort=False):
        cells = list(dict.fromkeys(group["cell"]))
        seeds = set.intersection(*(set(group.loc[group["cell"] == c, "seed"]) for c in cells))
        if len(cells) < 2 or not seeds:
            continue
        group = group[group["seed"].isin(seeds)]
        blends = []
        for seed, jobs in sorted(group.groupby("seed"), key=lambda kv: kv[0]):
            test = _mean_probability([read_predictions(Path(d)) for d in jobs["job_dir"]])
            if test is None:
                continue
            val = _mean_probability([read_predictions(Path(d), "val_predictions.csv") for d in jobs["job_dir"]])
            if val is not None and (jobs["n_val"] != len(val)).any():
                val = None  # they held out different reviews (another val_fraction, say): no common validation
            blends.append(test)
            val_scores = {"n_val": len(val) if val is not None else pd.NA,
                          "val_accuracy": float(is_correct(val).mean()) if val is not None else math.nan,
                          "best_cell_val_accuracy": float(jobs["val_accuracy"].max())}
            rows += _blend_rows(jobs, bucket, str(seed), test, cells, val_scores)
        if len(blends) > 1:
            rows += _blend_rows(group, bucket, "all", _mean_probability(blends), cells, {})
    return pd.DataFrame(rows, columns=["cells", "of_bucket", "seed", "bucket", "min_len", "max_len", "n_models", "n_val",
                                       "val_accuracy", "best_cell_val_accuracy", "n_test", "test_accuracy"])


# --blend-search scores 2**n - 1 blends of a bucket's n cells, each more cell doubling the time: 16 cells of 10 seeds
# took 14 s with 0_129's test and validation reviews, 71 s with 25,000 and 5,000 (benchmarks/blend_search_speed.py).
MAX_SEARCHED_CELLS = 16


def blend_search(table: pd.DataFrame) -> pd.DataFrame:
    """blend_search.csv (--blend-search): per bucket, every blend of its cells, each cell alone too, scored
    on validation seed by seed over the seeds every cell has (a seed's jobs held out the same reviews), and
    on test with all those seeds' models. Validation picks the highest mean validation accuracy (a tie:
    the fewer cells, then the more wins). `wins` / `ties` / `losses`: the seeds where a blend's validation
    accuracy is above, equal to or below its best cell's. Test accuracy plays no part in the pick."""
    done = table[(table["status"] == "complete") & table["seed"].notna()].assign(cell=lambda t: t.apply(cell_label, axis=1))
    columns = ["of_bucket", "cells", "n_cells", "n_seeds", "n_val", "val_accuracy", "best_cell_val_accuracy",
               "wins", "ties", "losses", "n_test", "test_accuracy", "picked"]
    found = []
    for bucket, group in done.groupby("bucket", sort=False):
        cells = list(dict.fromkeys(group["cell"]))
        if len(cells) > MAX_SEARCHED_CELLS:
            raise CompareError(f"--blend-search scores every blend of at most {MAX_SEARCHED_CELLS} cells; bucket {bucket} "
                               f"has {len(cells)}: compare fewer sweeps")
        seeds = sorted(set.intersection(*(set(group.loc[group["cell"] == c, "seed"]) for c in cells)))
        jobs = group[group["seed"].isin(seeds)]
        if len(cells) < 2 or not seeds or jobs.duplicated(["cell", "seed"]).any():
            continue  # nothing to blend, or two jobs of one cell and seed (not set aside as repeats)
        rows = _score_blends(jobs, cells, seeds)
        if not rows:
            continue
        # Equal mean accuracies must compare equal whatever order their seeds were summed in: rounded.
        ranked = pd.DataFrame(rows).assign(of_bucket=bucket, rank=lambda t: t["val_accuracy"].round(12))
        ranked = ranked.sort_values(["rank", "n_cells", "wins"], ascending=[False, True, False], kind="stable")
        found.append(ranked.assign(picked=[True] + [False] * (len(ranked) - 1)))
    return pd.concat(found, ignore_index=True)[columns] if found else pd.DataFrame(columns=columns)


def _score_blends(jobs: pd.DataFrame, cells: list[str], seeds: list) -> list[dict]:
    """One bucket's blends (each a combination of `cells`) scored from its jobs' saved predictions; none when
    a job lacks them or a seed's jobs held out different reviews."""
    test = _probabilities([read_predictions(Path(d)) for d in jobs["job_dir"]])
    of_seed = {s: jobs[jobs["seed"] == s] for s in seeds}
    val = {s: _probabilities([read_predictions(Path(d), "val_predictions.csv") for d in of_seed[s]["job_dir"]]) for s in seeds}
    if test is None or None in val.values() or any((of_seed[s]["n_val"] != len(val[s][1])).any() for s in seeds):
        return []
    column = {s: {c: i for i, c in enumerate(of_seed[s]["cell"])} for s in seeds}  # cell -> its column in val[s]
    alone = {s: {c: _accuracy(val[s], [i]) for c, i in column[s].items()} for s in seeds}
    # On test a blend is every seed's model of its cells (one job a cell and seed): summed per cell once, so
    # that each of the 2**n blends adds one column a cell instead of one a job (10 seeds: 7 times faster).
    test_sum = {c: test[0][:, (jobs["cell"] == c).to_numpy()].sum(axis=1) for c in cells}
    rows = []
    for n in range(1, len(cells) + 1):
        for blend in itertools.combinations(cells, n):
            per_seed = [_accuracy(val[s], [column[s][c] for c in blend]) for s in seeds]
            best = [max(alone[s][c] for c in blend) for s in seeds]
            sign = [(a > b) - (a < b) for a, b in zip(per_seed, best)]
            test_probability = sum(test_sum[c] for c in blend) / (n * len(seeds))
            rows.append({"cells": " + ".join(blend), "n_cells": n, "n_seeds": len(seeds), "n_val": len(val[seeds[0]][1]),
                         "val_accuracy": sum(per_seed) / len(seeds), "best_cell_val_accuracy": sum(best) / len(seeds),
                         **{k: sign.count(v) if n > 1 else pd.NA for k, v in (("wins", 1), ("ties", 0), ("losses", -1))},
                         "n_test": len(test[1]), "test_accuracy": _right_share(test_probability, test[1])})
    return rows


def _joined(predictions: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    """Their probabilities, one column per prediction file, on the reviews all of them scored (indexed by
    review_id); None when one is missing."""
    if not predictions or any(p is None for p in predictions):
        return None
    return pd.concat([p.set_index("review_id")["probability"] for p in predictions], axis=1, join="inner")


def _probabilities(predictions: list[pd.DataFrame | None]) -> tuple[np.ndarray, np.ndarray] | None:
    """(probabilities, one column per prediction file, and whether each review is positive), on the reviews
    all of them scored; None when one is missing or they share no review."""
    frame = _joined(predictions)
    if frame is None or frame.empty:
        return None
    return frame.to_numpy(), predictions[0].set_index("review_id").loc[frame.index, "label"].to_numpy() == 1


def _accuracy(scored: tuple[np.ndarray, np.ndarray], columns: list[int]) -> float:
    """The accuracy of the mean probability of `columns`."""
    probabilities, positive = scored
    return _right_share(probabilities[:, columns].mean(axis=1), positive)


def _right_share(probability: np.ndarray, positive: np.ndarray) -> float:
    """The share of reviews a probability gets right (as job.accuracy: above 0.5 is positive)."""
    return float(((probability > 0.5) == positive).mean())


def _blend_rows(jobs: pd.DataFrame, bucket: str, seed: str, test: pd.DataFrame, cells: list[str], val_scores: dict) -> list[dict]:
    return [{"cells": " + ".join(cells), "of_bucket": bucket, "seed": seed, "bucket": name, "min_len": low, "max_len": high,
             "n_models": len(jobs),
             **(val_scores if name == bucket else {}), "n_test": len(hits), "test_accuracy": float(hits.mean())}
            for name, low, high, hits in _scored_ranges(jobs, bucket, test)]


def _mean_probability(predictions: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    """The reviews all of them predicted (review_id, length, label) with their mean probability; None
    when one is missing."""
    probability = _joined(predictions)
    if probability is None:
        return None
    reviews = predictions[0].set_index("review_id").loc[probability.index, ["length", "label"]]
    return reviews.assign(probability=probability.mean(axis=1)).reset_index()


def _scored_ranges(group: pd.DataFrame, bucket: str, predictions: pd.DataFrame) -> list[tuple]:
    """(range name, min_len, max_len, correct or not per review) for the group's bucket, then for each
    test_by_length range any of its jobs was scored on (a bucket=all job), empty ranges left out."""
    correct = is_correct(predictions)
    first = group.iloc[0]
    ranges = [(bucket, first["min_len"], first["max_len"], correct)]
    try:  # the ranges any of them was scored on (a job from before test_by_length has none)
        by_length = max((json.loads(text or "{}") for text in group["test_by_length"]), key=len)
        for name in by_length if len(by_length) > 1 else ():
            low, high = range_edges(name)
            ranges.append((name, low, high, correct[predictions["length"].between(low, high)]))
    except (ValueError, TypeError, AttributeError):
        pass  # not what imdb_rnn writes: the group's own bucket is still scored
    return [r for r in ranges if len(r[3])]

