"""Compare finished jobs: `python -m imdb_rnn.compare PATH [PATH ...] [--output DIR] [--baseline PATH] [--blend] [--blend-search]`.

PATHs are sweep dirs, job dirs, or glob patterns (quoted, so compare expands them); every job dir
found inside them (a dir with metrics.json or .hydra/) is read. Nothing is retrained: only the files
the jobs wrote are read (metrics.json, history.csv, [val_]predictions.csv, .hydra/overrides.yaml,
config.yaml). Writes, into --output (default: the sweep dir when one is given, else the inputs'
common parent):

  results.csv   one row per job dir: arch, bucket, losses and accuracies, best hyperparameters,
                sizes, wall times, status (complete / failed / interrupted / running / missing /
                worker / repeat / unrelated) and error;
  report.html   one self-contained interactive page (plotly.js embedded): accuracy heatmap and bars,
                validation curves, time per job, best hyperparameters, token lengths with the bucket
                edges, accuracy against review length; the seed ensembles, blends and blend search
                below, when any;
  diff.csv      with --baseline (e.g. the same sweep before a change): test accuracy per cell, both
                sides and their difference;
  ensembles.csv when a cell has several seeds: the test accuracy of their averaged probability
                (a seed ensemble), per bucket;
  blends.csv    with --blend: the accuracy of the mean probability of a bucket's cells (e.g. a GRU and
                the linear baseline), seed by seed on validation and test, then over all seeds;
  blend_search.csv  with --blend-search: every blend of a bucket's cells (each cell alone too), ranked by
                mean validation accuracy over their common seeds; `picked` marks the top one, the blend
                validation chooses. Its test accuracy is read after, never used to choose.

and prints the architecture x bucket table of test accuracy (best per bucket marked *) and what did
not complete. A job scored on several length ranges (a bucket=all job: metrics.json test_by_length) also
gets a row of its own per range in that table and the heatmap, "lstm (bucket all)", so a generalist reads
against the per-bucket jobs. Jobs that differ only in their seed share a cell: the table gives their mean
± standard deviation. Jobs whose settings differ in more than arch, bucket and seed (two sweeps with
different overrides) are told apart by those overrides ("lstm tuner=none"); the settings the jobs
resolved (config.yaml) decide, not the spelling (see `variants`). A seed run twice for one cell (a
sweep re-run into a new dir) counts once: the newer run (see `set_aside_repeats`).
"""

import argparse
import glob
import itertools
import json
import math
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from imdb_rnn import artifacts, job_config
from imdb_rnn.quiet import run_command

ARCH_ORDER = ["rnn", "lstm", "gru", "tfidf_lr"]  # the linear baseline last: the line to beat
# Overrides that never tell cells apart beyond arch and bucket (they are the cell, or the grid).
CELL_KEYS = {"arch", "bucket", "bucket.min_len", "bucket.max_len", "bucket.index", "bucket.n_buckets", "sweep"}
# Overrides that do not change what a job learns (where files are, threads, verbosity, and the job
# whose choice a refit took over: the same figures as choosing again).
NEUTRAL_KEYS = {"data.cache_dir", "threads.intra_op", "threads.inter_op", "keras_verbose", "train.refit_from"}
# Repeats of one setting: jobs that differ only here are pooled into one cell (mean ± std).
REPEAT_KEYS = {"seed"}
# Resolved settings (config.yaml, each key and what is under it) that never tell jobs apart: the
# cell's bucket, the neutral and repeated settings above, the ranges a job is scored on.
CONFIG_IGNORED = {"bucket", "test_by_length", *NEUTRAL_KEYS, *REPEAT_KEYS}
SCORES = ["test_loss", "test_accuracy", "val_loss", "val_accuracy", "train_loss", "train_accuracy"]
COUNTS = ["n_train", "n_val", "n_test", "epochs_run"]
TIMES = ["data_wall_s", "tuning_wall_s", "training_wall_s", "evaluation_wall_s", "total_wall_s"]
RESULT_COLUMNS = [
    "architecture", "min_len", "max_len", *SCORES, "best_hyperparameters",
    "bucket", "variant", "seed", "scheme", "train_scope", *COUNTS[:3], "tuner", "epochs_run", *TIMES, "test_by_length",
    "finished_at", "status", "error", "job_dir",
]
SUMMARY_COLUMNS = ["job", "arch", "bucket", "status", "test_accuracy", "error"]
PREDICTION_COLUMNS = ["review_id", "length", "label", "probability"]  # a job's predictions.csv
NOT_A_JOB = "no metrics.json or .hydra/ inside: not a job dir"
WORKER = "worker"  # the status of a distributed-search worker's job dir: done, but no model or scores of its own
REPEAT = "repeat"  # the status of a cell's seed run again in another dir: listed, the newer run counts


class CompareError(Exception):
    """Reported as one line, `imdb_rnn.compare: error: ...`, exit status 1."""


# --- finding and reading job dirs --------------------------------------------------------------


def is_job_dir(path: Path) -> bool:
    return (path / artifacts.METRICS).is_file() or (path / ".hydra").is_dir()


def find_job_dirs(root: Path) -> tuple[list[Path], list[Path]]:
    """(job dirs under root, dirs under root that hold no job at all). Job dirs are not searched
    further (their tuner/, checkpoints/ ... are the job's own)."""
    root = Path(root)
    if is_job_dir(root):
        return [root], []
    jobs, unrelated = [], []
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return [], [root]
    for child in children:
        if (child / "results.csv").is_file() and (child / "report.html").is_file() and not is_job_dir(child):
            continue  # an earlier compare's output
        found, stray = find_job_dirs(child)
        if found:
            jobs += found
            unrelated += stray
        else:
            unrelated.append(child)
    return jobs, unrelated


def _overrides(job_dir: Path) -> list[str]:
    try:
        # As typed: an override may hold an interpolation (train.refit_from='.../gru_all,seed=${seed}').
        return [str(o) for o in OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"), resolve=False)]
    except Exception:  # noqa: BLE001 - no or unreadable overrides: nothing to tell it apart by
        return []


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _cell_from_config(job_dir: Path) -> dict:
    """arch / bucket of a job that wrote no (complete) metrics.json, from the config it was given."""
    cell = {}
    for name in ("config.yaml", ".hydra/config.yaml"):  # resolved by the job; as composed by Hydra
        try:
            cfg = OmegaConf.load(job_dir / name)
        except Exception:  # noqa: BLE001
            continue
        for key, path in (("architecture", "arch.name"), ("bucket", "bucket.name"), ("min_len", "bucket.min_len"),
                          ("max_len", "bucket.max_len"), ("scheme", "bucket.scheme")):
            if cell.get(key) is None:
                try:  # imdb_rnn's ${bucket_name:...} resolver is registered on import
                    cell[key] = OmegaConf.select(cfg, path)
                except Exception:  # noqa: BLE001
                    pass
    return cell


def read_job(job_dir: Path) -> dict:
    """One results.csv row from the files of one job dir."""
    job_dir = Path(job_dir)
    metrics = artifacts.read_metrics(job_dir)
    row = {"job_dir": str(job_dir), "error": ""}
    if metrics is None:
        exists = (job_dir / artifacts.METRICS).exists()
        row["status"] = "missing"
        row["error"] = "metrics.json unreadable" if exists else "no metrics.json: never started, or killed early"
    else:
        row["status"] = str(metrics.get("status", "unknown"))
        row["error"] = str(metrics.get("error") or "")
        if row["status"] == "running":
            row["error"] = "metrics.json says running: still running, or killed (re-run its sweep into its dir)"
        if row["status"] == "complete" and metrics.get("tuner_role") == "worker":
            row["status"] = WORKER  # finished, but nothing to compare: no model, no scores
            row["error"] = "a distributed-search worker: it ran trials only; its chief's job dir holds the model and scores"
    metrics = metrics or {}
    bucket = metrics.get("bucket") or {}
    row.update(
        architecture=metrics.get("arch"), bucket=bucket.get("name"), min_len=bucket.get("min_len"),
        max_len=bucket.get("max_len"), scheme=bucket.get("scheme"),
    )
    if row["architecture"] is None or row["bucket"] is None:
        for key, value in _cell_from_config(job_dir).items():
            if row.get(key) is None:
                row[key] = value
    for key in SCORES + COUNTS + TIMES:
        row[key] = metrics.get(key)
    row["tuner"] = metrics.get("tuner")
    row["seed"] = metrics.get("seed")
    row["finished_at"] = metrics.get("finished_at")
    row["train_scope"] = metrics.get("train_scope", "bucket" if metrics else None)
    row["data_source"] = metrics.get("data_source")  # for variants(); not a results.csv column
    if row["status"] == "complete":
        row["best_hyperparameters"] = json.dumps(metrics.get("best_hyperparameters") or {}, sort_keys=True)
        row["test_by_length"] = json.dumps(metrics.get("test_by_length") or {})
    else:
        row["best_hyperparameters"] = row["test_by_length"] = ""
    return row


def job_summary(job_dir: Path, sweep_dir: Path) -> dict:
    """The sweep_summary row of one job (used by cli.SweepSummary)."""
    row = read_job(job_dir)
    try:
        name = str(Path(job_dir).relative_to(sweep_dir))
    except ValueError:
        name = str(job_dir)
    return {"job": name, "arch": row["architecture"], "bucket": row["bucket"], "status": row["status"],
            "test_accuracy": row["test_accuracy"], "error": row["error"]}


def collect(paths: list[str]) -> tuple[list[Path], list[Path]]:
    """Expand the command line's paths (globs too) into (job dirs, unrelated dirs)."""
    jobs, unrelated = [], []
    for arg in paths:
        expanded = os.path.expanduser(arg)
        is_pattern = any(c in arg for c in "*?[") and not os.path.exists(expanded)
        matches = sorted(glob.glob(expanded)) if is_pattern else [expanded]
        if not matches or not os.path.exists(matches[0]):
            raise CompareError(f"{arg}: no such file or directory")
        for match in map(Path, matches):
            if match.is_file() and match.name == artifacts.METRICS:
                match = match.parent
            if not match.is_dir():
                if is_pattern:
                    continue  # a glob like sweep/* also matches multirun.yaml
                raise CompareError(f"{arg}: not a directory (give a sweep dir, a job dir or a glob of them)")
            found, stray = find_job_dirs(match)
            if not found and not is_pattern:
                raise CompareError(f"{arg}: no job dirs found (a job dir holds metrics.json or .hydra/)")
            jobs += found
            unrelated += stray if found else [match]
    if not jobs:
        raise CompareError(f"{' '.join(paths)}: no job dirs found (a job dir holds metrics.json or .hydra/)")
    unique = list(dict.fromkeys(p.resolve() for p in jobs))
    return unique, [p.resolve() for p in dict.fromkeys(unrelated) if p.resolve() not in unique]


def variants(jobs: list[Path], archs: list, sources: list) -> list[str]:
    """Each job's variant: its overrides beyond arch, bucket and seed, less those every job shares
    (tuner=none, ...). What decides is the settings the job learned with (its resolved config.yaml):
    jobs of one arch with the same settings share one spelling, the one most of them used, however
    each was spelled (`experiment=best_gru` and `experiment=best_gru arch.ema_momentum=0.99` are one
    recipe); jobs spelled alike whose settings differ (a default changed between them) get the
    settings that differ added, "experiment=best_gru [arch.ema_momentum=null]"."""
    ignored = CELL_KEYS | NEUTRAL_KEYS | REPEAT_KEYS
    overrides = [{o for o in _overrides(job) if _override_key(o) not in ignored} for job in jobs]
    common = set.intersection(*overrides) if overrides else set()
    spelled = [" ".join(sorted(own - common)) for own in overrides]
    recipes = _recipes(jobs, archs, sources)
    spellings = defaultdict(Counter)  # (arch, recipe) -> how its jobs were spelled
    for arch, recipe, label in zip(archs, recipes, spelled):
        if recipe is not None:
            spellings[arch, recipe][label] += 1
    label_of = {key: min(counts, key=lambda label: (-counts[label], len(label), label)) for key, counts in spellings.items()}
    alike = defaultdict(list)  # (arch, label) -> the recipes spelled so
    for (arch, recipe), label in label_of.items():
        alike[arch, label].append(recipe)
    for (arch, label), spelled_so in alike.items():
        if len(spelled_so) < 2:
            continue
        as_dicts = [dict(recipe) for recipe in spelled_so]
        for recipe, own in zip(spelled_so, as_dicts):
            differ = " ".join(f"{k}={_spell(v)}" for k, v in sorted(own.items()) if any(o[k] != v for o in as_dicts))
            label_of[arch, recipe] = f"{label} [{differ}]".strip()
    return [label if recipe is None else label_of[arch, recipe] for arch, recipe, label in zip(archs, recipes, spelled)]


def _recipes(jobs: list[Path], archs: list, sources: list) -> list[tuple | None]:
    """Each job's resolved settings (config.yaml, flattened to sorted (key, value) pairs, read as
    `job_config.read` does) less those that never tell jobs apart (CONFIG_IGNORED); None for a job without
    a readable config.yaml. data.path counts as the file the job read (`sources`: metrics.json's
    data_source, an absolute path), not as typed. A setting that some jobs of its arch lack (written by an
    older imdb_rnn, before the setting existed) is read as its default today, which is what those jobs
    did (`job_config.fill_defaults`). One that has no default either is left out (another arch's settings
    are its own business)."""
    flat = []
    for job, source in zip(jobs, sources):
        try:
            f = job_config.read(job)
        except Exception:  # noqa: BLE001 - no or unreadable config: the job keeps its spelled variant
            f = None
        if f is not None and f.get("data.path") is not None and source:
            f["data.path"] = source  # the file as the job resolved it: ../shared/x and /work/shared/x are one
        flat.append(f)
    present = defaultdict(set)  # arch -> the keys any readable config of its jobs has
    for arch, f in zip(archs, flat):
        if f is not None:
            present[arch] |= set(f)
    flat = [f if f is None else job_config.fill_defaults(f, present[arch], arch) for arch, f in zip(archs, flat)]
    shared = {}  # arch -> the keys every readable config of its jobs has (now)
    for arch, f in zip(archs, flat):
        if f is not None:
            shared[arch] = shared[arch] & set(f) if arch in shared else set(f)
    keep = {arch: {k for k in keys if not job_config.under(k, CONFIG_IGNORED)} for arch, keys in shared.items()}
    return [None if f is None else tuple(sorted((k, json.dumps(f[k])) for k in keep[arch])) for arch, f in zip(archs, flat)]


def _spell(value: str) -> str:
    """A setting's JSON text as a Hydra override spells it: null, true, 0.99, last (no quotes)."""
    decoded = json.loads(value)
    return decoded if isinstance(decoded, str) else value


def results_table(jobs: list[Path], unrelated: list[Path] = ()) -> pd.DataFrame:
    """results.csv: one row per job dir (and per unrelated dir), ordered by arch, bucket, variant."""
    rows = [read_job(job) for job in jobs]
    for row, variant in zip(rows, variants(jobs, [r["architecture"] for r in rows], [r["data_source"] for r in rows])):
        row["variant"] = variant
    set_aside_repeats(rows)
    rows += [{"job_dir": str(d), "status": "unrelated", "error": NOT_A_JOB} for d in unrelated]
    table = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    for col in ("min_len", "max_len", "seed", *COUNTS):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    for col in SCORES + TIMES:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    for col in ("architecture", "bucket", "variant", "scheme", "tuner", "best_hyperparameters", "test_by_length", "finished_at", "error"):
        table[col] = table[col].astype(object).fillna("").astype(str)
    table["_arch"] = table["architecture"].map(_arch_rank)
    table["_bucket"] = table["bucket"].map(_bucket_rank(table))
    table = table.sort_values(["_arch", "architecture", "variant", "_bucket", "job_dir"], kind="stable")
    return table.drop(columns=["_arch", "_bucket"]).reset_index(drop=True)


def set_aside_repeats(rows: list[dict]) -> None:
    """A cell's seed run twice (a sweep re-run into a new dir) would count twice in the cell's mean ± std,
    its seed ensemble and its blends: the newest complete run counts (finished_at, then the dir's name,
    which Hydra dates), the others get status `repeat`."""
    runs = defaultdict(list)
    for row in rows:
        if row["status"] == "complete" and row["seed"] is not None:
            runs[row["architecture"], row["variant"], row["bucket"], row["seed"]].append(row)
    for (*_, seed), same in runs.items():
        *older, newest = sorted(same, key=lambda row: (row["finished_at"] or "", row["job_dir"]))
        for row in older:
            row["status"], row["error"] = REPEAT, f"seed {seed} of this cell again; the newer run counts: {newest['job_dir']}"


def scored_by_length(table: pd.DataFrame) -> pd.DataFrame:
    """Grid rows for the complete jobs scored on more than one length range (metrics.json test_by_length
    of a bucket=all job): one per range, as if a job of that bucket, labelled "<arch> (bucket all)"."""
    rows = []
    for _, job in table[table["status"] == "complete"].iterrows():
        variant = f"{job['variant']} (bucket {job['bucket']})".strip()
        try:
            by_length = json.loads(job["test_by_length"] or "{}")
            if len(by_length) < 2:
                continue  # a bucket job's one range is the job itself
            ranges = [(name, *_range_edges(name), float(r["accuracy"]), int(r["reviews"]))
                      for name, r in by_length.items()]
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # not what imdb_rnn writes: the job still has its own row
        for name, low, high, accuracy, reviews in ranges:
            rows.append({"architecture": job["architecture"], "variant": variant, "bucket": name, "min_len": low,
                         "max_len": high, "test_accuracy": accuracy, "n_test": reviews,
                         "status": "complete", "job_dir": job["job_dir"]})
    return pd.DataFrame(rows, columns=table.columns).astype(table.dtypes.to_dict())


def _range_edges(name: str) -> tuple[int, int]:
    """A test_by_length range's (min_len, max_len) from its name, "130_175" -> (130, 175)."""
    low, high = (int(v) for v in name.split("_"))
    return low, high


def _arch_rank(arch: str) -> tuple:
    return (ARCH_ORDER.index(arch), "") if arch in ARCH_ORDER else (len(ARCH_ORDER) + (arch == ""), arch)


def _bucket_rank(table: pd.DataFrame) -> dict:
    """Buckets ordered by min_len (then max_len, then name); open-ended ones (all) after them, ones without
    known edges last."""
    edges = {}
    for name, group in table[table["bucket"] != ""].groupby("bucket"):
        lows, highs = group["min_len"].dropna(), group["max_len"].dropna()
        low = lows.min() if not lows.empty else 0
        high = highs.max() if not highs.empty else math.inf
        edges[name] = (lows.empty, high == math.inf, low, high, name)
    order = sorted(edges, key=lambda n: edges[n])
    ranks = {name: i for i, name in enumerate(order)}
    ranks[""] = len(order)
    return ranks


def bucket_order(table: pd.DataFrame) -> list[str]:
    ranks = _bucket_rank(table)
    return [b for b in sorted(ranks, key=ranks.get) if b]


def cell_label(row) -> str:
    return f"{row['architecture']} {row['variant']}".strip() if row["variant"] else row["architecture"]


def accuracy_grid(table: pd.DataFrame, statistic: str = "mean") -> pd.DataFrame:
    """Test accuracy of the complete jobs, one row per arch (+ variant), one column per bucket: the
    `statistic` (mean, std or count) over the jobs of each cell (its seeds)."""
    done = table[table["status"] == "complete"].copy()
    rows = list(dict.fromkeys(cell_label(r) for _, r in table[table["architecture"] != ""].iterrows()))
    if done.empty:
        return pd.DataFrame(index=rows, columns=bucket_order(table), dtype=float)
    done["cell"] = done.apply(cell_label, axis=1)
    grid = done.pivot_table(index="cell", columns="bucket", values="test_accuracy", aggfunc=statistic)
    return grid.reindex(index=rows, columns=bucket_order(table)).astype(float)


def ensemble_table(table: pd.DataFrame) -> pd.DataFrame:
    """ensembles.csv: for every cell with two or more complete jobs (its seeds), the test accuracy of
    their averaged predicted probability, from the jobs' predictions.csv; a bucket=all cell is also
    scored on each of its test_by_length ranges ("<arch> (bucket all)", as in the main table)."""
    done = table[table["status"] == "complete"]
    rows = []
    for (_, bucket), group in done.groupby([done.apply(cell_label, axis=1), "bucket"], sort=False):
        if len(group) < 2:
            continue
        test = _mean_probability([_read_predictions(Path(job_dir)) for job_dir in group["job_dir"]])
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
            test = _mean_probability([_read_predictions(Path(d)) for d in jobs["job_dir"]])
            if test is None:
                continue
            val = _mean_probability([_read_predictions(Path(d), "val_predictions.csv") for d in jobs["job_dir"]])
            if val is not None and (jobs["n_val"] != len(val)).any():
                val = None  # they held out different reviews (another val_fraction, say): no common validation
            blends.append(test)
            val_scores = {"n_val": len(val) if val is not None else pd.NA,
                          "val_accuracy": float(_correct(val).mean()) if val is not None else math.nan,
                          "best_cell_val_accuracy": float(jobs["val_accuracy"].max())}
            rows += _blend_rows(jobs, bucket, str(seed), test, cells, val_scores)
        if len(blends) > 1:
            rows += _blend_rows(group, bucket, "all", _mean_probability(blends), cells, {})
    return pd.DataFrame(rows, columns=["cells", "of_bucket", "seed", "bucket", "min_len", "max_len", "n_models", "n_val",
                                       "val_accuracy", "best_cell_val_accuracy", "n_test", "test_accuracy"])


MAX_SEARCHED_CELLS = 12  # --blend-search scores 2**n - 1 blends of a bucket's n cells


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
    test = _probabilities([_read_predictions(Path(d)) for d in jobs["job_dir"]])
    of_seed = {s: jobs[jobs["seed"] == s] for s in seeds}
    val = {s: _probabilities([_read_predictions(Path(d), "val_predictions.csv") for d in of_seed[s]["job_dir"]]) for s in seeds}
    if test is None or None in val.values() or any((of_seed[s]["n_val"] != len(val[s][1])).any() for s in seeds):
        return []
    column = {s: {c: i for i, c in enumerate(of_seed[s]["cell"])} for s in seeds}  # cell -> its column in val[s]
    alone = {s: {c: _accuracy(val[s], [i]) for c, i in column[s].items()} for s in seeds}
    rows = []
    for n in range(1, len(cells) + 1):
        for blend in itertools.combinations(cells, n):
            per_seed = [_accuracy(val[s], [column[s][c] for c in blend]) for s in seeds]
            best = [max(alone[s][c] for c in blend) for s in seeds]
            sign = [(a > b) - (a < b) for a, b in zip(per_seed, best)]
            rows.append({"cells": " + ".join(blend), "n_cells": n, "n_seeds": len(seeds), "n_val": len(val[seeds[0]][1]),
                         "val_accuracy": sum(per_seed) / len(seeds), "best_cell_val_accuracy": sum(best) / len(seeds),
                         **{k: sign.count(v) if n > 1 else pd.NA for k, v in (("wins", 1), ("ties", 0), ("losses", -1))},
                         "n_test": len(test[1]),
                         "test_accuracy": _accuracy(test, [i for i, c in enumerate(jobs["cell"]) if c in blend])})
    return rows


def _probabilities(predictions: list[pd.DataFrame | None]) -> tuple[np.ndarray, np.ndarray] | None:
    """(probabilities, one column per prediction file, and whether each review is positive), on the reviews
    all of them scored; None when one is missing or they share no review."""
    if not predictions or any(p is None for p in predictions):
        return None
    frame = pd.concat([p.set_index("review_id")["probability"] for p in predictions], axis=1, join="inner")
    if frame.empty:
        return None
    return frame.to_numpy(), predictions[0].set_index("review_id").loc[frame.index, "label"].to_numpy() == 1


def _accuracy(scored: tuple[np.ndarray, np.ndarray], columns: list[int]) -> float:
    """The accuracy of the mean probability of `columns` (as job.accuracy: above 0.5 is positive)."""
    probabilities, positive = scored
    return float(((probabilities[:, columns].mean(axis=1) > 0.5) == positive).mean())


def _blend_rows(jobs: pd.DataFrame, bucket: str, seed: str, test: pd.DataFrame, cells: list[str], val_scores: dict) -> list[dict]:
    return [{"cells": " + ".join(cells), "of_bucket": bucket, "seed": seed, "bucket": name, "min_len": low, "max_len": high,
             "n_models": len(jobs),
             **(val_scores if name == bucket else {}), "n_test": len(hits), "test_accuracy": float(hits.mean())}
            for name, low, high, hits in _scored_ranges(jobs, bucket, test)]


def _mean_probability(predictions: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    """The reviews all of them predicted (review_id, length, label) with their mean probability; None
    when one is missing."""
    if not predictions or any(p is None for p in predictions):
        return None
    probability = pd.concat([p.set_index("review_id")["probability"] for p in predictions], axis=1, join="inner")
    reviews = predictions[0].set_index("review_id").loc[probability.index, ["length", "label"]]
    return reviews.assign(probability=probability.mean(axis=1)).reset_index()


def _correct(predictions: pd.DataFrame) -> pd.Series:
    return (predictions["probability"] > 0.5) == (predictions["label"] == 1)  # as job.accuracy


def _scored_ranges(group: pd.DataFrame, bucket: str, predictions: pd.DataFrame) -> list[tuple]:
    """(range name, min_len, max_len, correct or not per review) for the group's bucket, then for each
    test_by_length range any of its jobs was scored on (a bucket=all job), empty ranges left out."""
    correct = _correct(predictions)
    first = group.iloc[0]
    ranges = [(bucket, first["min_len"], first["max_len"], correct)]
    try:  # the ranges any of them was scored on (a job from before test_by_length has none)
        by_length = max((json.loads(text or "{}") for text in group["test_by_length"]), key=len)
        for name in by_length if len(by_length) > 1 else ():
            low, high = _range_edges(name)
            ranges.append((name, low, high, correct[predictions["length"].between(low, high)]))
    except (ValueError, TypeError, AttributeError):
        pass  # not what imdb_rnn writes: the group's own bucket is still scored
    return [r for r in ranges if len(r[3])]


# --- terminal output ---------------------------------------------------------------------------


def plural(n: int, noun: str) -> str:
    """'1 complete job', '2 complete jobs'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def format_blend_search(searched: pd.DataFrame, top: int = 10) -> str:
    """Per bucket, the `top` blends by mean validation accuracy, validation's pick first."""
    if searched.empty:
        return ("Blend search: none (--blend-search needs two or more cells in one bucket with a seed in common, whose "
                "jobs saved their predictions for the same validation reviews)")
    parts = []
    for bucket, rows in searched.groupby("of_bucket", sort=False):
        first = rows.iloc[0]
        heading = (f"Blend search, bucket {bucket}: {len(rows)} blends of {rows['n_cells'].max()} cells over "
                   f"{first['n_seeds']} seeds, by mean validation accuracy (%); w/t/l: the seeds where it beats, ties "
                   "or loses to its best cell; test: the models of all those seeds, read after the pick (blend_search.csv):")
        lines = [heading, f"{'':6}  {'val':>6}  {'best cell':>9}  {'w/t/l':>5}  {'test':>6}  cells"]
        for _, row in rows.head(top).iterrows():
            record = "-" if pd.isna(row["wins"]) else f"{row['wins']}/{row['ties']}/{row['losses']}"
            lines.append(f"{'picked' if row['picked'] else '':6}  {100 * row['val_accuracy']:6.2f}  "
                         f"{100 * row['best_cell_val_accuracy']:9.2f}  {record:>5}  {100 * row['test_accuracy']:6.2f}  {row['cells']}")
        margin = margin95(first["test_accuracy"], first["n_test"])  # the first row is the pick
        if pd.notna(margin):
            lines.append(f"test: {int(first['n_test']):,} reviews, whose count alone puts a 95 % margin of "
                         f"±{100 * margin:.2f} on the pick's figure")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def format_grid(table: pd.DataFrame, grid: pd.DataFrame, title: str, diff: bool = False,
                spread: pd.DataFrame | None = None) -> str:
    """A plain-text arch x bucket table; for accuracies the best of each bucket is marked *, and a cell
    with a `spread` (the std over its seeds) reads mean±std; for changes (`diff`), `spread` is their margin."""
    status = {}
    for _, row in table[(table["architecture"] != "") & (table["status"] != "complete")].iterrows():
        status.setdefault((cell_label(row), row["bucket"]), row["status"])
    best = {b: grid[b].max() for b in grid.columns} if not diff else {}
    header = ["", *grid.columns]
    ranges = {}
    for b in grid.columns:
        rows = table[table["bucket"] == b]
        lo, hi = rows["min_len"].dropna(), rows["max_len"].dropna()
        ranges[b] = f"{lo.min()}-{hi.max()}" if not lo.empty and not hi.empty else ("" if lo.empty else f"{lo.min()}-")
    lines = [header]
    if any(ranges[b] and ranges[b].replace("-", "_") != b for b in grid.columns):
        lines.append(["", *(ranges[b] for b in grid.columns)])
    for label in grid.index:
        cells = [label]
        for b in grid.columns:
            value = grid.loc[label, b]
            if pd.isna(value):
                cells.append(status.get((label, b), "-"))
            elif diff:
                margin = spread.loc[label, b] if spread is not None else math.nan
                cells.append(f"{100 * value:+.1f}" + (f"±{100 * margin:.1f}" if pd.notna(margin) else ""))
            else:
                std = spread.loc[label, b] if spread is not None else math.nan
                text = f"{100 * value:.1f}" + (f"±{100 * std:.1f}" if pd.notna(std) else "")
                cells.append(text + ("*" if value == best[b] else " "))
        lines.append(cells)
    if not diff:
        lines += margin_rows(table, best)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = [title]
    for line in lines:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        text.append("  ".join(cells))
    return "\n".join(text)


def margin95(p: float, n) -> float:
    """The 95 % margin that n test reviews alone put on an accuracy p, 1.96 * sqrt(p (1 - p) / n): how far
    p could move on as many other reviews (NaN without both). Seeds, ensembles and blends share one test
    set, so this is the part of the uncertainty their spread leaves out."""
    return 1.96 * math.sqrt(p * (1 - p) / n) if pd.notna(p) and pd.notna(n) and n > 0 else math.nan


def bucket_margins(table: pd.DataFrame, best: dict) -> dict[str, tuple[int, float] | None]:
    """Each bucket's number of test reviews and the margin95 they put on its best figure."""
    done = table[(table["status"] == "complete") & table["n_test"].notna()]
    margins = {}
    for b, p in best.items():
        n = done.loc[done["bucket"] == b, "n_test"].median()
        margin = margin95(p, n)
        margins[b] = (int(n), margin) if pd.notna(margin) else None
    return margins


def margin_rows(table: pd.DataFrame, best: dict) -> list[list[str]]:
    """The two rows under an accuracy grid: test reviews, and the 95 % margin (bucket_margins)."""
    margins = bucket_margins(table, best).values()
    return [["test reviews", *(f"{m[0]:,}" if m else "-" for m in margins)],
            ["95% margin ±", *(f"{100 * m[1]:.1f} " if m else "-" for m in margins)]]


def format_blends(blends: pd.DataFrame) -> str:
    """Per bucket blended: one row per seed (then "all"), validation accuracy against the best of its
    cells, test accuracy per range."""
    if blends.empty:
        return "Blends: none (--blend needs two or more cells in one bucket with a seed in common)"
    parts = []
    for (cells, bucket), rows in blends.groupby(["cells", "of_bucket"], sort=False):
        grid = rows.pivot_table(index="seed", columns="bucket", values="test_accuracy", sort=False).rename_axis(None) * 100
        grid.columns.name = "seed"
        val = rows[rows["bucket"] == bucket].set_index("seed")
        grid.insert(0, "val (best cell)", [
            "-" if pd.isna(val.loc[seed, "val_accuracy"]) else
            f"{100 * val.loc[seed, 'val_accuracy']:.2f} ({100 * val.loc[seed, 'best_cell_val_accuracy']:.2f})"
            for seed in grid.index])
        parts.append(f"Blend of {cells}, bucket {bucket}: accuracy (%) of the mean probability, "
                     "seed by seed; test per length range (blends.csv):\n" + grid.to_string(float_format=lambda v: f"{v:.2f}"))
    return "\n\n".join(parts)


def format_problems(table: pd.DataFrame) -> str:
    problems = table[table["status"] != "complete"]
    if problems.empty:
        return ""
    lines = [f"not complete ({len(problems)}):" if (~problems["status"].isin(["unrelated", WORKER, REPEAT])).all() else
             f"not complete, or nothing to compare ({len(problems)}):"]
    for _, row in problems.iterrows():
        what = f"{cell_label(row)} {row['bucket']}".strip() if row["architecture"] or row["bucket"] else ""
        line = f"  {row['status']:<11} {row['job_dir']}" + (f" [{what}]" if what else "")
        lines.append(line + (f": {row['error']}" if row["error"] else ""))
    return "\n".join(lines)


# --- baseline ----------------------------------------------------------------------------------


def diff_table(table: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """diff.csv: mean test accuracy per cell on both sides (complete jobs), current - baseline, and the
    95 % margin of that change over the test reviews (paired_margin)."""

    def per_cell(t):
        done = t[t["status"] == "complete"]
        return done.groupby(["architecture", "variant", "bucket"]).agg(
            min_len=("min_len", "min"), max_len=("max_len", "max"),
            test_accuracy=("test_accuracy", "mean"), n_jobs=("test_accuracy", "size"), job_dirs=("job_dir", list),
        )

    now, before = per_cell(table), per_cell(baseline)
    both = now.join(before.add_prefix("baseline_"), how="outer").reset_index()
    both["min_len"] = both["min_len"].fillna(both["baseline_min_len"])
    both["max_len"] = both["max_len"].fillna(both["baseline_max_len"])
    both["diff"] = both["test_accuracy"] - both["baseline_test_accuracy"]
    both["diff_margin95"] = [paired_margin(now_dirs, before_dirs) if pd.notna(d) else math.nan
                             for now_dirs, before_dirs, d in zip(both["job_dirs"], both["baseline_job_dirs"], both["diff"])]
    both = both[["architecture", "variant", "bucket", "min_len", "max_len", "test_accuracy", "baseline_test_accuracy",
                 "diff", "diff_margin95", "n_jobs", "baseline_n_jobs"]]
    for col in ("min_len", "max_len", "n_jobs", "baseline_n_jobs"):
        both[col] = both[col].astype("Int64")
    ranks = {"architecture": _arch_rank, "bucket": _bucket_rank(pd.concat([table, baseline]))}
    both = both.sort_values(["architecture", "variant", "bucket"], key=lambda s: s.map(ranks.get(s.name, lambda v: v)))
    return both.reset_index(drop=True)


def paired_margin(job_dirs: list, baseline_dirs: list) -> float:
    """The 95 % margin of a change in test accuracy from the test reviews alone, paired: each review's
    correctness now minus before (each side's averaged over its seeds), d, over the reviews both sides
    scored; 1.96 * std(d) / sqrt(n). Tighter than two separate margins, since most reviews are right (or
    wrong) on both sides. NaN when a side's predictions.csv is missing."""
    sides = []
    for dirs in (job_dirs, baseline_dirs):
        predictions = [_read_predictions(Path(d)) for d in dirs]
        if any(p is None for p in predictions):
            return math.nan
        sides.append(pd.concat([_correct(p.set_index("review_id")) for p in predictions], axis=1).mean(axis=1))
    d = (sides[0] - sides[1]).dropna()
    return 1.96 * float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.nan


def diff_grid(diff: pd.DataFrame, buckets: list[str], values: str = "diff") -> pd.DataFrame:
    diff = diff.assign(cell=diff.apply(cell_label, axis=1))
    grid = diff.pivot_table(index="cell", columns="bucket", values=values, aggfunc="mean", dropna=False)
    rows = list(dict.fromkeys(diff["cell"]))
    return grid.reindex(index=rows, columns=[b for b in buckets if b in set(diff["bucket"])])


# --- report ------------------------------------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def _read_predictions(job_dir: Path, name: str = "predictions.csv") -> pd.DataFrame | None:
    """A job's predictions.csv (or val_predictions.csv), or None when it is missing or not what imdb_rnn writes."""
    predictions = _read_csv(job_dir / name)
    return predictions if predictions is not None and set(PREDICTION_COLUMNS) <= set(predictions.columns) else None


def _job_label(row) -> str:
    return f"{cell_label(row)} {row['bucket']}"


def blend_grid(blends: pd.DataFrame) -> pd.DataFrame:
    """blends.csv as a grid: one row per blend and seed, one column per length range, test accuracy."""
    labelled = blends.assign(row=blends["cells"] + " (bucket " + blends["of_bucket"] + "), seed " + blends["seed"])
    grid = labelled.pivot_table(index="row", columns="bucket", values="test_accuracy", sort=False)
    return grid.reindex(columns=bucket_order(blends))


def build_report(table: pd.DataFrame, grid: pd.DataFrame, diff: pd.DataFrame | None, diff_g: pd.DataFrame | None,
                 title: str, ensemble_grid: pd.DataFrame | None, blends: pd.DataFrame | None,
                 searched: pd.DataFrame | None = None) -> str:
    from imdb_rnn import plots  # plotly: only when writing the report

    done = table[table["status"] == "complete"]
    histories, predictions = {}, []
    for _, row in done.iterrows():
        history = _read_csv(Path(row["job_dir"]) / "history.csv")
        if history is not None and {"epoch", "val_accuracy"} <= set(history.columns):
            histories[_job_label(row)] = history
        preds = _read_predictions(Path(row["job_dir"]))
        if preds is not None:
            predictions.append(preds.assign(cell=cell_label(row), bucket=row["bucket"]))
    predictions = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(
        columns=[*PREDICTION_COLUMNS, "cell", "bucket"])
    edges = sorted({int(v) for v in done["min_len"].dropna()} | {int(v) + 1 for v in done["max_len"].dropna()})

    figures = [
        ("accuracy-heatmap", plots.accuracy_heatmap(grid, "Test accuracy by architecture and bucket")),
        ("accuracy-bars", plots.accuracy_bars(done.assign(cell=done.apply(cell_label, axis=1)), list(grid.columns))),
    ]
    if diff_g is not None:
        figures.append(("baseline-diff", plots.accuracy_heatmap(
            diff_g, "Change in test accuracy against the baseline (percentage points)", diverging=True)))
    if ensemble_grid is not None:
        figures.append(("seed-ensembles", plots.accuracy_heatmap(
            ensemble_grid, "Seed ensembles: test accuracy of the mean probability of each cell's seeds")))
    if blends is not None and len(blends):
        figures.append(("blends", plots.accuracy_heatmap(
            blend_grid(blends), "Blends: test accuracy of the mean probability of a bucket's cells", rows="blend, seed")))
    if searched is not None and len(searched):
        figures.append(("blend-search", plots.blend_search(searched)))
    figures += [
        ("validation-curves", plots.validation_curves(histories)),
        ("job-times", plots.job_times(done.assign(job=done.apply(_job_label, axis=1)))),
        ("best-hyperparameters", plots.hyperparameter_table(done.assign(cell=done.apply(cell_label, axis=1)))),
        ("length-histogram", plots.length_histogram_with_edges(
            predictions.drop_duplicates(["review_id", "length"])["length"].to_numpy(), edges)),
        ("accuracy-by-length", plots.accuracy_by_length(predictions, edges)),
    ]
    notes = [f"{plural(len(done), 'complete job')} of {plural(int((table['status'] != 'unrelated').sum()), 'job dir')}."]
    margins = bucket_margins(table, grid.max().to_dict())
    notes += ["Test reviews per bucket, and the 95 % margin they alone put on its best figure: " + "; ".join(
        f"{b} {m[0]:,}, ±{100 * m[1]:.1f}" for b, m in margins.items() if m) + "."] if any(margins.values()) else []
    problems = table[table["status"] != "complete"]
    notes += [f"{r['status']}: {r['job_dir']}" + (f" ({r['error']})" if r["error"] else "")
              for _, r in problems.iterrows()]
    if blends is not None:
        checked = blends.dropna(subset=["val_accuracy"])
        notes += [f"Blend of {r['cells']} (bucket {r['of_bucket']}), seed {r['seed']}: validation accuracy "
                  f"{100 * r['val_accuracy']:.2f} %, best of its cells {100 * r['best_cell_val_accuracy']:.2f} %."
                  for _, r in checked.iterrows()]
    if searched is not None:
        notes += [f"Blend search, bucket {r['of_bucket']}: validation picks {r['cells']} (validation accuracy "
                  f"{100 * r['val_accuracy']:.2f} %, test {100 * r['test_accuracy']:.2f} %; blend_search.csv)."
                  for _, r in searched[searched["picked"]].iterrows()]
    if diff is not None:
        n_base = int(diff["baseline_n_jobs"].fillna(0).sum())
        notes.append(f"Baseline: {plural(n_base, 'complete job')}; diff.csv has the numbers.")
    return plots.html_page(title, [fig for _, fig in figures], div_ids=[name for name, _ in figures], notes=notes)


# --- command line ------------------------------------------------------------------------------


def default_output(paths: list[str]) -> Path:
    """The sweep dir when one non-job dir is given, else the inputs' common parent (never a job dir,
    whose own report.html must stay)."""
    resolved = [Path(os.path.expanduser(p)).resolve() for p in paths]
    resolved = [p if p.exists() else Path(os.path.commonpath(glob.glob(str(p)) or [str(p.parent)])) for p in resolved]
    out = resolved[0] if len(resolved) == 1 else Path(os.path.commonpath([str(p) for p in resolved]))
    if out.is_file():
        out = out.parent
    while is_job_dir(out) and out.parent != out:
        out = out.parent
    return out


def writable_dir(out: Path) -> None:
    """Make `out` (a read-only sweep, e.g. on shared storage, is the default): CompareError if it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompareError(f"cannot create {out} ({exc.strerror}): pass --output DIR, a dir you can write to") from None
    if not os.access(out, os.W_OK):
        raise CompareError(f"cannot write to {out}: pass --output DIR, a dir you can write to")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="imdb_rnn.compare",
        description="Compare finished imdb_rnn jobs (sweep dirs, job dirs, globs): results.csv, report.html, "
                    "a table of test accuracy. Reads the jobs' files only; never retrains.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="sweep dir, job dir or glob (quote it) of them")
    parser.add_argument("--output", "-o", metavar="DIR", help="where to write results.csv, report.html (and diff.csv); "
                        "default: the sweep dir when one is given, else the inputs' common parent")
    parser.add_argument("--baseline", metavar="PATH", help="another sweep (e.g. before a change): per-cell differences "
                        "in test accuracy go to the terminal, diff.csv and the report")
    parser.add_argument("--blend", action="store_true", help="also score the mean probability of all the cells in a "
                        "bucket (e.g. a GRU and the linear baseline), seed by seed on validation and test, and over all "
                        "seeds (blends.csv)")
    parser.add_argument("--blend-search", action="store_true", help="score every blend of a bucket's cells (each "
                        "cell alone too) on validation over the seeds they share, and mark the one validation picks: "
                        f"the highest mean validation accuracy (blend_search.csv; at most {MAX_SEARCHED_CELLS} cells a bucket)")
    args = parser.parse_args(argv)
    try:
        jobs, unrelated = collect(args.paths)
        table = results_table(jobs, unrelated)
        diff = None
        if args.baseline:
            base_jobs, base_unrelated = collect([args.baseline])
            diff = diff_table(table, results_table(base_jobs, base_unrelated))
        out = Path(args.output).expanduser() if args.output else default_output(args.paths)
        if is_job_dir(out):
            raise CompareError(f"--output {out} is a job dir (its own report.html would be overwritten)")
        searched = blend_search(table) if args.blend_search else None
        writable_dir(out)
    except CompareError as exc:
        print(f"imdb_rnn.compare: error: {exc}", file=sys.stderr)
        return 1

    by_length = scored_by_length(table)
    grid_table = pd.concat([table, by_length], ignore_index=True) if len(by_length) else table
    grid = accuracy_grid(grid_table)
    n_jobs = int((table["status"] != "unrelated").sum())
    n_done = int((table["status"] == "complete").sum())
    diff_g = None
    if diff is not None:
        diff_g = diff_grid(diff, bucket_order(pd.concat([table, diff.assign(status="complete")], ignore_index=True)))

    # Files first: a reader that stops early (`| head`) must not cost the results.
    artifacts.write_csv(out / "results.csv", table)
    written = [out / "results.csv"]
    if diff is not None:
        artifacts.write_csv(out / "diff.csv", diff)
        written.append(out / "diff.csv")
    title = f"imdb_rnn: {n_done} of {plural(n_jobs, 'job')}" + (f" ({args.paths[0]})" if len(args.paths) == 1 else "")
    ensembles = ensemble_table(table)
    ensemble_grid = accuracy_grid(ensembles).dropna(how="all") if len(ensembles) else None
    if len(ensembles):
        artifacts.write_csv(out / "ensembles.csv", ensembles)
        written.append(out / "ensembles.csv")
    blends = blend_table(table) if args.blend else None
    if blends is not None:
        artifacts.write_csv(out / "blends.csv", blends)
        written.append(out / "blends.csv")
    if searched is not None:
        artifacts.write_csv(out / "blend_search.csv", searched)
        written.append(out / "blend_search.csv")
    artifacts.write_text(out / "report.html", build_report(table, grid, diff, diff_g, title, ensemble_grid, blends, searched))
    written.append(out / "report.html")

    spread = accuracy_grid(grid_table, "std")  # NaN where a cell has one job
    heading = f"Test accuracy (%) of {plural(n_done, 'complete job')}, * = best in its bucket"
    if spread.notna().any(axis=None):
        heading += "; mean±std over the seeds of a cell"
    print(format_grid(grid_table, grid, heading + ":", spread=spread))
    if len(ensembles):
        print("\n" + format_grid(ensembles, ensemble_grid, "Seed ensembles: test accuracy (%) of the mean probability "
                                  "of each cell's seeds (ensembles.csv):"))
    if blends is not None:
        print("\n" + format_blends(blends))
    if searched is not None:
        print("\n" + format_blend_search(searched))
    problems = format_problems(table)
    if problems:
        print("\n" + problems)
    if diff is not None:
        print("\n" + format_grid(table, diff_g, f"Change in test accuracy against {args.baseline} (percentage points, "
                                 "current - baseline; ± its 95 % margin over the test reviews, paired):", diff=True,
                                 spread=diff_grid(diff, list(diff_g.columns), "diff_margin95")))
        only = diff[diff["diff"].isna()]
        for _, row in only.iterrows():
            side = "baseline" if pd.isna(row["test_accuracy"]) else "current"
            print(f"  only in {side}: {cell_label(row)} {row['bucket']}")
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    run_command(main)
