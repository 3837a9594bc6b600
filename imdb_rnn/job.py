"""One experiment job, top to bottom:

    load IMDb -> keep the bucket's reviews -> split validation off train -> Keras Tuner search
    -> retrain the best settings -> evaluate on the bucket's test reviews -> write artifacts.

Everything goes into `out_dir`; metrics.json says `running` until the very last write turns it into
`complete` (or `failed`, with the reason, see cli.py).
"""

import logging
import math
import os
import platform
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pandas as pd
import tensorflow as tf
from omegaconf import OmegaConf
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from imdb_rnn import UserError, artifacts, buckets, checks, data, inputs, job_config, linear, plots, pretrain, tuning
from imdb_rnn.models import build_model, ema_callbacks

log = logging.getLogger(__name__)

# Length-grouped batches have no fixed count per epoch, so Keras cannot know when an epoch ends
# until the data runs out; that is expected here, not a bug worth a warning.
warnings.filterwarnings("ignore", message="Your input ran out of data")

MIN_TRAIN_REVIEWS = 10  # below this a validation split (and any training) is meaningless


def run_job(cfg, out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    started = time.perf_counter()  # the settings were checked before TensorFlow loaded (cli.py, checks.py)
    if cfg.train.refit_from:
        check_refit_source(cfg, out_dir)
    artifacts.write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    artifacts.write_json(out_dir / artifacts.METRICS, {"status": "running", "started_at": _now()})
    configure_tensorflow(cfg)

    # --- data: the bucket's reviews, validation split off the training ones ----------------------
    t0 = time.perf_counter()
    corpus = data.load(cfg.data)
    splits = bucket_splits(corpus, cfg)
    bucket, train_all, train, val, test = splits.bucket, splits.train_all, splits.train, splits.val, splits.test
    baseline = cfg.arch.cell == checks.LINEAR
    vocab_size = data.FIRST_WORD_ID + len(corpus.vocab) if baseline else splits.vocab_size  # the baseline reads every word
    x_train, x_val, x_test = (
        inputs.truncate(split.sequences(vocab_size), cfg.data.max_len, cfg.data.keep) for split in (train, val, test)
    )
    # data.window (recurrent models): they learn from and read reviews in windows (inputs.windows), so batches are
    # padded to window lengths. The baseline reads whole reviews.
    window = None if baseline else cfg.data.window
    if cfg.data.window and baseline:
        log.info("%s reads whole reviews; data.window=%s does not apply to it", cfg.arch.name, cfg.data.window)
    pad_to = None
    if not baseline:
        train_lengths = window_lengths(x_train, window)
        pad_to = batch_lengths(cfg.train, train_lengths, max(train_lengths + window_lengths(x_val + x_test, window)))
    data_s = time.perf_counter() - t0
    log.info(
        "bucket %s [%s, %s] of %s: %d train / %d val / %d test reviews, vocabulary %d (%.1f s)",
        bucket.name, bucket.min_len, bucket.max_len, corpus.source, len(train), len(val), len(test), vocab_size, data_s,
    )

    # --- pretrain=lm: word vectors from a language model on the other training reviews' text --------
    t0 = time.perf_counter()
    word_vectors, pretrained = None, None
    if cfg.pretrain.name == "lm" and baseline:
        log.info("%s has no word vectors; pretrain=lm does not apply to it", cfg.arch.name)
    elif cfg.pretrain.name == "lm":
        word_vectors, pretrained = pretrain.word_vectors(cfg, corpus, bucket, vocab_size, int(cfg.arch.embedding_dim))
        keras.utils.set_random_seed(cfg.seed)  # the job goes on alike whether it trained the language model or read it
    pretrain_s = time.perf_counter() - t0

    # --- search and retrain (recurrent), or fit (the linear baseline) -----------------------------
    if baseline:
        trained = fit_baseline(cfg, x_train, train.labels, x_val, val.labels)
    else:
        trained = train_recurrent(cfg, out_dir, vocab_size, pad_to, x_train, train.labels, x_val, val.labels, word_vectors)
        if trained.worker:  # a distributed-search worker: done; the chief's job retrains the best trial
            return finish_worker(cfg, out_dir, bucket, trained.trials, data_s, trained.tuning_s, started)

    # --- evaluate the best model on every split --------------------------------------------------
    t0 = time.perf_counter()
    scores, probability = {}, {}
    for name, x, split in (("train", x_train, train), ("val", x_val, val), ("test", x_test, test)):
        # A refit model has learned the validation reviews: their scores come from the model they chose.
        predict = trained.selected if name == "val" and trained.selected else trained.predict
        probability[name] = predict(x)
        scores[f"{name}_loss"], scores[f"{name}_accuracy"] = loss_and_accuracy(probability[name], split.labels)
    by_length = accuracy_by_length(cfg.test_by_length, test.lengths, probability["test"], test.labels)
    refit = trained.refit
    if trained.selected:  # for the record (never for choosing): how the model validation chose does on test
        selected_test = trained.selected(x_test)
        refit = {**refit, "selected_test_accuracy": accuracy(selected_test, test.labels),
                 "selected_test_by_length": accuracy_by_length(cfg.test_by_length, test.lengths, selected_test, test.labels)}
    evaluation_s = time.perf_counter() - t0
    log.info("test accuracy %.4f (val %.4f, train %.4f)", scores["test_accuracy"], scores["val_accuracy"], scores["train_accuracy"])
    if len(by_length) > 1:
        log.info("test accuracy by length: %s", ", ".join(f"{name} {r['accuracy']:.4f}" for name, r in by_length.items()))

    # --- artifacts; metrics.json last -------------------------------------------------------------
    trained.save(out_dir)
    artifacts.write_json(out_dir / "tokenizer.json", tokenizer_spec(corpus, vocab_size, cfg.data, window))
    # Each review's probability, test and validation (the latter from the model validation chose, as its scores).
    for file, name, split in (("predictions.csv", "test", test), ("val_predictions.csv", "val", val)):
        artifacts.write_csv(
            out_dir / file,
            pd.DataFrame({"review_id": split.ids, "length": split.lengths, "label": split.labels, "probability": probability[name]}),
        )
    history, trials = trained.history, trained.trials
    figures = [] if history is None else [plots.training_curves(history)]
    if trials is not None and trials["score"].notna().any():
        figures.append(plots.tuner_trials(trials, cfg.tuner.objective))
    figures.append(plots.length_histogram(train_all.lengths, test.lengths, bucket.min_len, bucket.max_len))
    artifacts.write_text(out_dir / "report.html", plots.html_page(f"{cfg.arch.name} on bucket {bucket.name}", figures))

    metrics = {
        "status": "complete",
        **job_record(cfg, bucket),
        "tuner": "none" if baseline else cfg.tuner.kind,  # the baseline is fitted as configured, never searched
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        **scores,
        "test_by_length": by_length,
        "best_hyperparameters": trained.tuned,
        "model": trained.settings,
        "tuner_role": None if baseline else cfg.tuner.get("distributed", {}).get("role"),  # chief of a distributed search, else null
        "n_trials": 0 if trials is None else len(trials),
        "epochs_run": None if history is None else len(history),
        "best_epoch": None if history is None else best_epoch(history, cfg.train.monitor),
        "refit": refit,  # train.refit: what it did; else null
        "pretrain": pretrained,  # pretrain=lm: the language model's text, held-out losses, cache file; else null
        "vocab_size": vocab_size,
        "max_len": cfg.data.max_len,
        "keep": cfg.data.keep,
        "window": window,
        "padded_lengths": pad_to,
        "jit_compile": None if baseline else cfg.train.jit_compile,
        "data_source": corpus.source,
        **closing_record(started, data=data_s, pretrain=pretrain_s, tuning=trained.tuning_s, training=trained.training_s,
                         evaluation=evaluation_s),
    }
    artifacts.write_json(out_dir / artifacts.METRICS, metrics)
    log.info("done in %.0f s: %s (metrics.json, report.html)", metrics["total_wall_s"], out_dir)
    return metrics


@dataclass
class Trained:
    """What training produced: a predictor of P(positive) from token ids, and how to save it."""

    predict: Callable[[list[np.ndarray]], np.ndarray]
    save: Callable[[Path], None]  # writes the model file(s) into the job dir
    settings: dict  # the model settings used (arch config + tuned values)
    tuned: dict  # just the tuned values
    trials: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    tuning_s: float = 0.0
    training_s: float = 0.0
    worker: bool = False  # a distributed-search worker: it ran trials, the chief retrains
    # train.refit: `predict` is the model refit on train + val; `selected` the early-stopped one
    # validation chose (the only one whose validation scores mean anything), `refit` what was done.
    selected: Callable[[list[np.ndarray]], np.ndarray] | None = None
    refit: dict | None = None


def window_lengths(seqs, window: int | None) -> list[int]:
    return [len(w) for w in inputs.windows(seqs, window)[0]]


def batch_lengths(train_cfg, train_lengths, longest: int) -> list[int]:
    """The few lengths every batch is padded to: each is a batch shape XLA compiles once per model, so
    with XLA a length must earn its compilation (train.shape_cost); without it, as many as help."""
    return inputs.padded_lengths(train_lengths, train_cfg.shape_cost if train_cfg.jit_compile else 0, longest=longest)


@dataclass
class Choice:
    """The model validation chose: its settings (arch config + tuned values), the search's trials, the
    retraining's epochs and the early-stopped model itself (None for a distributed-search worker)."""

    settings: dict
    tuned: dict
    trials: pd.DataFrame | None
    history: pd.DataFrame | None
    model: keras.Model | None
    tuning_s: float = 0.0


def train_recurrent(cfg, out_dir: Path, vocab_size: int, pad_to: list[int], x_train, y_train, x_val, y_val,
                    word_vectors=None) -> Trained:
    """The model validation chooses (searched and retrained here, or taken from the job that chose it
    already: train.refit_from), then with train.refit the same settings refit on train + validation.
    Every model it builds starts its embedding from `word_vectors` when given (pretrain=lm).
    With data.window every window of a review is a training example with the review's label (validation
    during training too), and a review's probability comes from its windows' as data.window_average says."""
    batch_size, window = cfg.train.batch_size, cfg.data.window
    t0 = time.perf_counter()
    n_train, n_val = len(x_train), len(x_val)
    if window:
        (x_train, in_train), (x_val, in_val) = inputs.windows(x_train, window), inputs.windows(x_val, window)
        y_train, y_val = y_train[in_train], y_val[in_val]
        log.info("data.window=%d: %d train / %d val windows", window, len(x_train), len(x_val))
    if cfg.train.refit_from:
        choice = earlier_choice(cfg, out_dir, n_train, n_val)
    else:
        choice = search_and_retrain(cfg, out_dir, vocab_size, pad_to, x_train, y_train, x_val, y_val, word_vectors)
    if choice.model is None:
        return Trained(None, None, {}, {}, choice.trials, tuning_s=choice.tuning_s, worker=True)
    selected, final, refit = choice.model, choice.model, None
    if cfg.train.refit:
        final, refit = refit_on_train_and_val(cfg, out_dir, choice.settings, vocab_size, pad_to, choice.history,
                                              x_train + x_val, np.concatenate([y_train, y_val]), word_vectors)
        refit["n_reviews"] = n_train + n_val  # reviews, not windows: x_train and x_val may be windows by now
        if cfg.train.refit_from:
            refit["from"] = str(refit_source(cfg))

    def reader(model):  # P(positive) for each review (whole, or its windows combined)
        return lambda seqs: inputs.predict_in_order(model, seqs, batch_size, pad_to, window, cfg.data.window_average)

    return Trained(
        predict=reader(final),
        save=lambda job_dir: artifacts.save_model(final, job_dir / "model.keras"),
        settings=choice.settings, tuned=choice.tuned, trials=choice.trials, history=choice.history,
        tuning_s=choice.tuning_s, training_s=time.perf_counter() - t0 - choice.tuning_s,
        selected=None if refit is None else reader(selected),
        refit=refit,
    )


def search_and_retrain(cfg, out_dir: Path, vocab_size: int, pad_to: list[int], x_train, y_train, x_val, y_val,
                       word_vectors=None) -> Choice:
    """Keras Tuner search on the validation split, then the best settings retrained with early stopping."""
    batch_size = cfg.train.batch_size
    t0 = time.perf_counter()
    val_ds, _ = inputs.eval_batches(x_val, y_val, batch_size, pad_to)
    arch = OmegaConf.to_container(cfg.arch, resolve=True)
    if cfg.tuner.kind == "none":
        settings, tuned, trials = arch, {}, None
    else:
        tuner_dir = tuning.project_parent(cfg.tuner, out_dir)  # <job dir>/tuner, or the shared tuner.directory
        log.info("tuning with %s (project in %s), batches padded to %s", cfg.tuner.kind, tuner_dir, pad_to)
        settings, tuned, trials = tuning.search(
            cfg.tuner, arch, vocab_size, inputs.train_batches(x_train, y_train, batch_size, cfg.seed, pad_to), val_ds,
            tuner_dir, cfg.seed, cfg.train.jit_compile,
            callbacks=[keras.callbacks.EarlyStopping(cfg.train.monitor, patience=cfg.tuner.patience)],
            verbose=cfg.keras_verbose, word_vectors=word_vectors,
        )
        artifacts.write_csv(out_dir / "tuner_trials.csv", trials)
        if settings is None:  # a distributed-search worker: its trials are its result
            return Choice({}, {}, trials, None, None, tuning_s=time.perf_counter() - t0)
        log.info("best of %d trials: %s", len(trials), tuned)
    tuning_s = time.perf_counter() - t0

    # Retraining does not depend on how much the search drew: fresh seeds, freshly shuffled batches.
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(settings, vocab_size, cfg.train.jit_compile, word_vectors)
    train_ds = inputs.train_batches(x_train, y_train, batch_size, cfg.seed, pad_to)
    history = fit(model, train_ds, val_ds, cfg.train, settings, out_dir, cfg.keras_verbose)
    # The checkpoint holds the best epoch (EarlyStopping only restores it when it stops training early).
    selected = keras.models.load_model(out_dir / "checkpoints" / "best.keras")
    return Choice(settings, tuned, trials, history, selected, tuning_s)


def refit_source(cfg) -> Path:
    return Path(os.path.expanduser(str(cfg.train.refit_from))).resolve()


# Settings that may differ between a job and the one it refits from (train.refit_from): they change
# neither the validation split nor what was trained (the data's reviews are checked by their counts).
REFIT_FROM_FREE = ("train.refit", "train.refit_from", "threads", "keras_verbose", "data.path", "data.cache_dir",
                   "data.source", "data.window_average", "test_by_length")


def check_refit_source(cfg, out_dir: Path) -> None:
    """train.refit_from: a complete job of these same settings, in another dir than this job's (checked
    before this job writes anything there), or a UserError naming the fix."""
    source = refit_source(cfg)
    if source == out_dir.resolve():
        raise UserError(f"train.refit_from={source} is this job's own dir: run the refit into another dir")
    metrics = artifacts.read_metrics(source)
    needed = [source / "config.yaml", source / "history.csv", source / "checkpoints" / "best.keras"]
    if not metrics or metrics.get("status") != "complete" or not all(path.is_file() for path in needed):
        raise UserError(f"train.refit_from={source}: not a complete job dir (metrics.json saying complete, config.yaml, "
                        "history.csv, checkpoints/best.keras); give the dir of a finished job")
    try:
        changed = job_config.changed(source, cfg, ignoring=REFIT_FROM_FREE)  # a setting added since: its default
    except Exception as exc:  # noqa: BLE001 - any parse error: the same advice
        raise UserError(f"train.refit_from={source}: its config.yaml is unreadable ({type(exc).__name__}); "
                        "give the dir of a finished job") from None
    if changed:
        raise UserError(f"train.refit_from={source} was run with other settings ({', '.join(changed)}): its model is not "
                        "this job's choice; give a job of the same settings, or drop train.refit_from")


def earlier_choice(cfg, out_dir: Path, n_train: int, n_val: int) -> Choice:
    """train.refit_from: what a finished job of the same settings chose on validation (its settings,
    trials, early-stopped model and epochs), instead of searching and training again: the same as
    this job would choose, at the cost of the refit only. Its history.csv, tuner_trials.csv and
    checkpoint are copied in, so this job dir holds everything a job that chose itself would."""
    source = refit_source(cfg)
    metrics = artifacts.read_metrics(source)  # checked by check_refit_source
    if (metrics.get("n_train"), metrics.get("n_val")) != (n_train, n_val):
        raise UserError(f"train.refit_from={source} had {metrics.get('n_train')} train / {metrics.get('n_val')} val reviews, "
                        f"this job {n_train} / {n_val}: other data; give a job run on the same data")
    log.info("refit from %s: its settings, its model and epochs chosen on validation", source)
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    for name in ("history.csv", "tuner_trials.csv", "checkpoints/best.keras"):
        if (source / name).is_file():
            shutil.copyfile(source / name, out_dir / name)
    trials = pd.read_csv(out_dir / "tuner_trials.csv") if (out_dir / "tuner_trials.csv").is_file() else None
    selected = keras.models.load_model(out_dir / "checkpoints" / "best.keras")
    return Choice(metrics["model"], metrics["best_hyperparameters"], trials, pd.read_csv(out_dir / "history.csv"), selected)


def refit_on_train_and_val(cfg, out_dir: Path, settings: dict, vocab_size: int, pad_to: list[int], history: pd.DataFrame, x_all, y_all,
                           word_vectors=None):
    """train.refit: a fresh model trained on train + validation for the epoch count validation chose,
    each epoch at the learning rate it had then (scikit-learn's refit: choose on validation, then learn
    from every labeled training review). Returns the model and what metrics.json says about it; its
    epochs go to refit_history.csv."""
    epochs = best_epoch(history, cfg.train.monitor)
    rates = history["learning_rate"].tolist()[:epochs]
    log.info("refit: %d epochs on %d train + val reviews (or their windows)", epochs, len(x_all))
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(settings, vocab_size, cfg.train.jit_compile, word_vectors)
    refit_history = train_and_log(
        model, inputs.train_batches(x_all, y_all, cfg.train.batch_size, cfg.seed, pad_to), None, epochs,
        [keras.callbacks.LearningRateScheduler(lambda epoch: rates[epoch])], out_dir / "refit_history.csv", cfg.keras_verbose,
    )
    return model, {"epochs": epochs, "wall_s": round(float(refit_history["epoch_time_s"].sum()), 2)}


def fit_baseline(cfg, x_train, y_train, x_val, y_val) -> Trained:
    """The TF-IDF + logistic regression baseline (linear.py), fitted on the same training split; with
    train.refit fitted again on train + val, as the recurrent models are."""
    if cfg.tuner.kind != "none":
        log.info("%s is fitted with its configured settings; tuner=%s does not apply to it", cfg.arch.name, cfg.tuner.kind)
    settings = OmegaConf.to_container(cfg.arch, resolve=True)
    t0 = time.perf_counter()
    selected = linear.fit(x_train, y_train, settings, cfg.seed)
    log.info("fitted %s: %d n-grams", cfg.arch.name, len(selected.named_steps["tfidf"].vocabulary_))
    final, refit = selected, None
    if cfg.train.refit:
        final = linear.fit(x_train + x_val, np.concatenate([y_train, y_val]), settings, cfg.seed)
        refit = {"n_reviews": len(x_train) + len(x_val)}
    return Trained(
        predict=lambda seqs: linear.predict(final, seqs),
        save=lambda job_dir: linear.save(final, settings, job_dir / "model.npz"),
        settings=settings, tuned={}, training_s=time.perf_counter() - t0,
        selected=(lambda seqs: linear.predict(selected, seqs)) if refit else None, refit=refit,
    )


def finish_worker(cfg, out_dir: Path, bucket, trials: pd.DataFrame, data_s: float, tuning_s: float, started: float) -> dict:
    """A distributed-search worker's metrics.json: the trials it ran. It has no model of its own: the
    chief's job dir holds the search's result (README "Scaling out")."""
    metrics = {
        "status": "complete",
        "tuner_role": "worker",
        "tuner_id": str(cfg.tuner.distributed.tuner_id),
        "tuner_directory": str(tuning.project_parent(cfg.tuner, out_dir)),
        **job_record(cfg, bucket),
        "n_trials": len(trials),
        "trials": [str(t) for t in trials.get("trial_id", [])],
        **closing_record(started, data=data_s, tuning=tuning_s),
    }
    artifacts.write_json(out_dir / artifacts.METRICS, metrics)
    log.info("worker %s ran %d trials: %s", metrics["tuner_id"], len(trials), ", ".join(metrics["trials"]))
    return metrics


def job_record(cfg, bucket: buckets.Bucket) -> dict:
    """What every metrics.json says about what ran: the arch, the bucket, the tuner and the seed."""
    return {
        "arch": cfg.arch.name,
        "bucket": {"name": bucket.name, "min_len": bucket.min_len, "max_len": bucket.max_len, "scheme": cfg.bucket.scheme},
        "tuner": cfg.tuner.kind,
        "train_scope": cfg.data.train_scope,
        "seed": cfg.seed,
    }


def closing_record(started: float, **seconds: float) -> dict:
    """`<stage>_wall_s` for each stage, the total since `started`, the finish time and library versions."""
    return {
        **{f"{stage}_wall_s": round(s, 2) for stage, s in seconds.items()},
        "total_wall_s": round(time.perf_counter() - started, 2),
        "finished_at": _now(),
        "versions": library_versions(),
    }


@dataclass
class BucketSplits:
    bucket: buckets.Bucket
    train_all: data.Split  # the bucket's training reviews = train + val
    train: data.Split
    val: data.Split
    test: data.Split
    vocab_size: int


def bucket_splits(corpus: data.Corpus, cfg) -> BucketSplits:
    """The bucket's reviews: train and test filtered by length, validation split off train (stratified)."""
    bucket = buckets.resolve(cfg.bucket, corpus.train.lengths)
    # train_scope=all: a generalist, trained on reviews of every length and tested on the bucket's.
    train_all = corpus.train if cfg.data.train_scope == "all" else corpus.train.subset(bucket.contains(corpus.train.lengths))
    test = corpus.test.subset(bucket.contains(corpus.test.lengths))
    where = f"bucket {bucket.name} [{bucket.min_len}, {bucket.max_len}] of {corpus.source}"
    if len(train_all) < MIN_TRAIN_REVIEWS or len(set(train_all.labels)) < 2:
        raise UserError(f"{where} has {len(train_all)} training reviews: too few to train; choose a wider bucket")
    if len(test) == 0:
        raise UserError(f"{where} has no test reviews: choose a wider bucket")
    train_idx, val_idx = validation_split(train_all, cfg.data, cfg.seed, corpus.source)
    vocab_size = min(cfg.data.vocab_size, data.FIRST_WORD_ID + len(corpus.vocab))
    return BucketSplits(bucket, train_all, train_all.subset(train_idx), train_all.subset(val_idx), test, vocab_size)


def validation_split(train_all: data.Split, data_cfg, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices. data.val_split=random: val_fraction of the reviews, stratified by label;
    movie: the reviews of val_fraction of the movies, so that validation, like IMDb's test set, holds
    only movies the model never trained on (otherwise it can score by recognising the movie)."""
    index = np.arange(len(train_all))
    if data_cfg.val_split == "random":
        return tuple(train_test_split(index, test_size=data_cfg.val_fraction, stratify=train_all.labels, random_state=seed))
    if (train_all.movies == "").any():
        raise UserError(f"data.val_split=movie: {source} does not say which movie each review is about "
                        "(aclImdb's urls_*.txt); use data.val_split=random")
    if len(set(train_all.movies)) < 2:
        raise UserError("data.val_split=movie: the bucket's training reviews are all about one movie; "
                        "use data.val_split=random or a wider bucket")
    splitter = GroupShuffleSplit(n_splits=1, test_size=data_cfg.val_fraction, random_state=seed)
    return next(splitter.split(index, groups=train_all.movies))


def lr_schedule(train_cfg, learning_rate: float) -> keras.callbacks.Callback | None:
    """train.lr_schedule: plateau (ReduceLROnPlateau, the classic study's), cosine (decay to 0 over
    train.epochs, per epoch), or constant."""
    if train_cfg.lr_schedule == "plateau":
        r = train_cfg.reduce_lr
        return keras.callbacks.ReduceLROnPlateau(train_cfg.monitor, factor=r.factor, patience=r.patience, min_lr=r.min_lr)
    if train_cfg.lr_schedule == "cosine":
        return keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / train_cfg.epochs)))
    return None


def fit(model, train_ds, val_ds, train_cfg, settings: dict, out_dir: Path, verbose: int) -> pd.DataFrame:
    """Train with early stopping, the LR schedule and a best-model checkpoint; return the history table."""
    schedule = lr_schedule(train_cfg, float(settings["learning_rate"]))
    callbacks = [
        *ema_callbacks(settings),  # first: the callbacks after it see the averaged weights
        keras.callbacks.EarlyStopping(train_cfg.monitor, patience=train_cfg.patience, restore_best_weights=True),
        *([schedule] if schedule else []),
        BestCheckpoint(out_dir / "checkpoints" / "best.keras", train_cfg.monitor),
        keras.callbacks.TensorBoard(str(out_dir / "tensorboard")),
    ]
    return train_and_log(model, train_ds, val_ds, train_cfg.epochs, callbacks, out_dir / "history.csv", verbose)


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint(save_best_only=True), written as every other file of a job is
    (artifacts.atomic_path): Keras writes its zip in place, so a job killed during a save left a truncated
    checkpoint; each save goes to a partial file that is renamed onto the checkpoint once whole."""

    def __init__(self, path: Path, monitor: str):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")  # Keras saves only to a name ending in .keras
        super().__init__(self.partial, monitor, save_best_only=True)

    def on_epoch_end(self, epoch, logs=None):
        try:
            super().on_epoch_end(epoch, logs)  # saves only when the monitored value improved
            if self.partial.exists():
                os.replace(self.partial, self.path)
        finally:
            self.partial.unlink(missing_ok=True)


def train_and_log(model, train_ds, val_ds, epochs: int, callbacks: list, history_file: Path, verbose: int) -> pd.DataFrame:
    """model.fit with what every training here has: a stop on NaN loss, one row per epoch written to
    history_file (returned), and one error when the loss diverged."""
    epoch_log = EpochLog()
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        shuffle=False,  # train_ds reshuffles itself every epoch
        verbose=verbose,
        callbacks=[*callbacks, keras.callbacks.TerminateOnNaN(), epoch_log],
    )
    history = pd.DataFrame(epoch_log.rows)
    artifacts.write_csv(history_file, history)
    if history.empty or not np.isfinite(history["loss"]).all():
        raise RuntimeError("training diverged (NaN loss); lower arch.learning_rate or set arch.clipnorm")
    return history


def loss_and_accuracy(probability: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """What model.evaluate reports (Keras' binary cross-entropy, accuracy at 0.5), from predictions we keep anyway."""
    loss = keras.losses.BinaryCrossentropy()(labels.astype("float32"), probability)
    return float(keras.ops.convert_to_numpy(loss)), accuracy(probability, labels)


def accuracy(probability: np.ndarray, labels: np.ndarray) -> float:
    """Keras' binary accuracy: positive when P > 0.5."""
    return float(np.mean((probability > 0.5) == labels))


def accuracy_by_length(ranges, lengths: np.ndarray, probability: np.ndarray, labels: np.ndarray) -> dict:
    """{"0_129": {"reviews": n, "accuracy": a}, ...}: test accuracy on each length range that holds test reviews."""
    by_length = {}
    for low, high in ranges:
        keep = buckets.Bucket("", low, high).contains(lengths)
        if keep.any():
            name = buckets.bucket_name(low, high)
            by_length[name] = {"reviews": int(keep.sum()), "accuracy": accuracy(probability[keep], labels[keep])}
    return by_length


def best_epoch(history: pd.DataFrame, monitor: str) -> int:
    """The epoch the checkpoint kept: lowest loss or highest accuracy (first one on ties)."""
    column = history[monitor]
    return int(history.loc[column.idxmin() if monitor.endswith("loss") else column.idxmax(), "epoch"])


class EpochLog(keras.callbacks.Callback):
    """One row per epoch (metrics, learning rate, wall time), also written to the job log."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        # The rate this epoch trains at (read now: ReduceLROnPlateau lowers it at the epoch's end).
        self._learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}}
        row["learning_rate"] = self._learning_rate
        row["epoch_time_s"] = round(time.perf_counter() - self._t0, 3)
        self.rows.append(row)
        log.info("epoch %d: %s", row["epoch"], ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))


def tokenizer_spec(corpus: data.Corpus, vocab_size: int, data_cfg, window: int | None) -> dict:
    """Everything needed to turn raw text into this model's inputs (read by imdb_rnn.predict)."""
    return {
        "format": data.TOKENIZER_FORMAT,
        **data.TOKENIZER_RULES,
        "vocab_size": vocab_size,
        "max_len": data_cfg.max_len,
        "keep": data_cfg.keep,
        "window": window,
        "window_average": data_cfg.window_average if window else None,  # inputs.predict_in_order
        "words": corpus.vocab[: vocab_size - data.FIRST_WORD_ID],
    }


def configure_tensorflow(cfg) -> None:
    """Threads and seeds; must run before TensorFlow executes its first op."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cfg.threads.intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(cfg.threads.inter_op)
    except RuntimeError:  # already initialized (a second job in the same process): keep what it has
        pass
    keras.utils.set_random_seed(cfg.seed)
    # Keras turns XLA off under TensorFlow's op determinism; XLA on CPU is run-to-run deterministic by
    # itself (tests/test_job.py runs a config twice), so op determinism is only needed without it.
    if cfg.deterministic and not cfg.train.jit_compile:
        tf.config.experimental.enable_op_determinism()


def library_versions() -> dict:
    import hydra

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_tuner": keras_tuner.__version__,
        "numpy": np.__version__,
        "hydra": hydra.__version__,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
