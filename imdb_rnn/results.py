"""Job dirs read into one table (results.csv): which dirs are jobs, how each one ended, its scores and
settings, and the cell it belongs to (arch, bucket, variant: its settings beyond those) and its seed. Used by
`python -m imdb_rnn.compare` (compare.py, blending.py) and by a sweep's summary (cli.py). Nothing is
retrained: only the files the jobs wrote are read (metrics.json, .hydra/overrides.yaml and hydra.yaml, config.yaml,
[val_]predictions.csv).
"""

import glob
import json
import math
import os
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from imdb_rnn import artifacts, job_config

ARCH_ORDER = ["rnn", "lstm", "gru", "tfidf_lr"]  # the linear baseline last: the line to beat
# Overrides that never tell cells apart beyond arch and bucket (they are the cell). Not `sweep`: a sweep
# config may hold a recipe (sweep=best_0_129), and a sweep shared by every job compared drops out anyway.
CELL_KEYS = {"arch", "bucket", "bucket.min_len", "bucket.max_len", "bucket.index", "bucket.n_buckets"}
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
    settings that differ added, "experiment=best_gru [arch.ema_momentum=null]". data.path is spelled as
    the file the job read, so that one file typed two ways drops out when every job read it."""
    ignored = CELL_KEYS | NEUTRAL_KEYS | REPEAT_KEYS
    overrides = [{_as_read(o, job, source) for o in _overrides(job) if _override_key(o) not in ignored}
                 for job, source in zip(jobs, sources)]
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
    data_source, an absolute path; `_resolved_path` for a job that has not written it), not as typed. A setting that some jobs of its arch lack (written by an
    older imdb_rnn, before the setting existed) is read as its default today, which is what those jobs
    did (`job_config.fill_defaults`). One that has no default either is left out (another arch's settings
    are its own business)."""
    flat = []
    for job, source in zip(jobs, sources):
        try:
            f = job_config.read(job)
        except Exception:  # noqa: BLE001 - no or unreadable config: the job keeps its spelled variant
            f = None
        if f is not None and f.get("data.path") is not None:
            # The file as the job resolved it: ../shared/x and /work/shared/x are one.
            f["data.path"] = source or _resolved_path(job, f["data.path"])
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


def _as_read(override: str, job_dir: Path, source: str | None) -> str:
    """An override as the job read it: data.path=<the file> (../shared/x and /work/shared/x are one); as
    typed for any other key, and for data.path=null (the download, as _recipes reads it)."""
    value = override.partition("=")[2]
    if _override_key(override) != "data.path" or value in ("null", ""):
        return override
    return f"data.path={source or _resolved_path(job_dir, value)}"


def _resolved_path(job_dir: Path, path: str) -> str:
    """data.path of a job that has not written its data_source (still running, failed, killed) as the job
    resolves it: from the dir its command ran from (Hydra's runtime.cwd, in .hydra/hydra.yaml); as typed
    when that is unknown."""
    path = os.path.expanduser(str(path))
    if not os.path.isabs(path):
        try:
            path = os.path.join(str(OmegaConf.load(job_dir / ".hydra" / "hydra.yaml").hydra.runtime.cwd), path)
        except Exception:  # noqa: BLE001 - no or unreadable hydra.yaml
            return path
    return str(Path(path).resolve())


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
    table["_arch"] = table["architecture"].map(arch_rank)
    table["_bucket"] = table["bucket"].map(bucket_rank(table))
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
            ranges = [(name, *range_edges(name), float(r["accuracy"]), int(r["reviews"]))
                      for name, r in by_length.items()]
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # not what imdb_rnn writes: the job still has its own row
        for name, low, high, accuracy, reviews in ranges:
            rows.append({"architecture": job["architecture"], "variant": variant, "bucket": name, "min_len": low,
                         "max_len": high, "test_accuracy": accuracy, "n_test": reviews,
                         "status": "complete", "job_dir": job["job_dir"]})
    return pd.DataFrame(rows, columns=table.columns).astype(table.dtypes.to_dict())


def range_edges(name: str) -> tuple[int, int]:
    """A test_by_length range's (min_len, max_len) from its name, "130_175" -> (130, 175)."""
    low, high = (int(v) for v in name.split("_"))
    return low, high


def arch_rank(arch: str) -> tuple:
    return (ARCH_ORDER.index(arch), "") if arch in ARCH_ORDER else (len(ARCH_ORDER) + (arch == ""), arch)


def bucket_rank(table: pd.DataFrame) -> dict:
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
    ranks = bucket_rank(table)
    return [b for b in sorted(ranks, key=ranks.get) if b]


def cell_label(row) -> str:
    return f"{row['architecture']} {row['variant']}".strip() if row["variant"] else row["architecture"]


# --- a job's saved predictions -----------------------------------------------------------------


def read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def read_predictions(job_dir: Path, name: str = "predictions.csv") -> pd.DataFrame | None:
    """A job's predictions.csv (or val_predictions.csv), or None when it is missing or not what imdb_rnn writes."""
    predictions = read_csv(job_dir / name)
    return predictions if predictions is not None and set(PREDICTION_COLUMNS) <= set(predictions.columns) else None


def is_correct(predictions: pd.DataFrame) -> pd.Series:
    return (predictions["probability"] > 0.5) == (predictions["label"] == 1)  # as job.accuracy

