"""One experiment job, top to bottom:

    load IMDb -> keep the bucket's reviews -> split validation off train -> Keras Tuner search
    -> retrain the best settings -> evaluate on the bucket's test reviews -> write artifacts.

Everything goes into `out_dir`; metrics.json says `running` until the very last write turns it into
`complete` (or `failed`, with the reason, see cli.py).
"""

import logging
import platform
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pandas as pd
import tensorflow as tf
from omegaconf import OmegaConf
from sklearn.model_selection import train_test_split

from imdb_rnn import UserError, artifacts, buckets, data, inputs, plots, tuning
from imdb_rnn.models import CELLS, HEADS, build_model

log = logging.getLogger(__name__)

# Length-grouped batches have no fixed count per epoch, so Keras cannot know when an epoch ends
# until the data runs out; that is expected here, not a bug worth a warning.
warnings.filterwarnings("ignore", message="Your input ran out of data")

MIN_TRAIN_REVIEWS = 10  # below this a validation split (and any training) is meaningless


def run_job(cfg, out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    check_config(cfg)
    artifacts.write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    artifacts.write_json(out_dir / artifacts.METRICS, {"status": "running", "started_at": _now()})
    configure_tensorflow(cfg)

    # --- data: the bucket's reviews, validation split off the training ones ----------------------
    t0 = time.perf_counter()
    corpus = data.load(cfg.data)
    splits = bucket_splits(corpus, cfg)
    bucket, train_all, train, val, test, vocab_size = (
        splits.bucket, splits.train_all, splits.train, splits.val, splits.test, splits.vocab_size
    )

    def sequences(split):
        return inputs.truncate(split.sequences(vocab_size), cfg.data.max_len, cfg.data.keep)

    x_train, x_val, x_test = sequences(train), sequences(val), sequences(test)
    batch_size = cfg.train.batch_size
    train_ds = inputs.train_batches(x_train, train.labels, batch_size, cfg.seed)
    val_ds, _ = inputs.eval_batches(x_val, val.labels, batch_size)
    data_s = time.perf_counter() - t0
    log.info(
        "bucket %s [%s, %s] of %s: %d train / %d val / %d test reviews, vocabulary %d (%.1f s)",
        bucket.name, bucket.min_len, bucket.max_len, corpus.source, len(train), len(val), len(test), vocab_size, data_s,
    )

    # --- search: best settings on the validation split -------------------------------------------
    t0 = time.perf_counter()
    arch = OmegaConf.to_container(cfg.arch, resolve=True)
    if cfg.tuner.kind == "none":
        settings, tuned, trials = arch, {}, None
    else:
        tuner_dir = tuning.project_parent(cfg.tuner, out_dir)  # <job dir>/tuner, or the shared tuner.directory
        log.info("tuning with %s (project in %s)", cfg.tuner.kind, tuner_dir)
        settings, tuned, trials = tuning.search(
            cfg.tuner, arch, vocab_size, train_ds, val_ds, tuner_dir, cfg.seed,
            callbacks=[keras.callbacks.EarlyStopping(cfg.train.monitor, patience=cfg.tuner.patience)],
            verbose=cfg.keras_verbose,
        )
        artifacts.write_csv(out_dir / "tuner_trials.csv", trials)
        if settings is None:  # a distributed-search worker: done; the chief's job retrains the best trial
            return finish_worker(cfg, out_dir, bucket, trials, data_s, time.perf_counter() - t0, started)
        log.info("best of %d trials: %s", len(trials), tuned)
    tuning_s = time.perf_counter() - t0

    # --- retrain the best settings with early stopping ------------------------------------------
    t0 = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)  # retraining does not depend on how much the search drew
    model = build_model(settings, vocab_size)
    history = fit(model, train_ds, val_ds, cfg.train, out_dir, cfg.keras_verbose)
    # The checkpoint holds the best epoch (EarlyStopping only restores it when it stops training early).
    model = keras.models.load_model(out_dir / "checkpoints" / "best.keras")
    training_s = time.perf_counter() - t0

    # --- evaluate the best model on every split --------------------------------------------------
    t0 = time.perf_counter()
    scores, probability = {}, {}
    for name, x, split in (("train", x_train, train), ("val", x_val, val), ("test", x_test, test)):
        probability[name] = inputs.predict_in_order(model, x, batch_size)
        scores[f"{name}_loss"], scores[f"{name}_accuracy"] = loss_and_accuracy(probability[name], split.labels)
    evaluation_s = time.perf_counter() - t0
    log.info("test accuracy %.4f (val %.4f, train %.4f)", scores["test_accuracy"], scores["val_accuracy"], scores["train_accuracy"])

    # --- artifacts; metrics.json last -------------------------------------------------------------
    artifacts.save_model(model, out_dir / "model.keras")
    artifacts.write_json(out_dir / "tokenizer.json", tokenizer_spec(corpus, vocab_size, cfg.data))
    artifacts.write_csv(
        out_dir / "predictions.csv",
        pd.DataFrame({"review_id": test.ids, "length": test.lengths, "label": test.labels, "probability": probability["test"]}),
    )
    figures = [plots.training_curves(history)]
    if trials is not None and trials["score"].notna().any():
        figures.append(plots.tuner_trials(trials, cfg.tuner.objective))
    figures.append(plots.length_histogram(train_all.lengths, test.lengths, bucket.min_len, bucket.max_len))
    artifacts.write_text(out_dir / "report.html", plots.html_page(f"{cfg.arch.name} on bucket {bucket.name}", figures))

    metrics = {
        "status": "complete",
        **job_record(cfg, bucket),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        **scores,
        "best_hyperparameters": tuned,
        "model": settings,
        "tuner_role": cfg.tuner.get("distributed", {}).get("role"),  # chief of a distributed search, else null
        "n_trials": 0 if trials is None else len(trials),
        "epochs_run": len(history),
        "best_epoch": best_epoch(history, cfg.train.monitor),
        "vocab_size": vocab_size,
        "max_len": cfg.data.max_len,
        "keep": cfg.data.keep,
        "data_source": corpus.source,
        **closing_record(started, data=data_s, tuning=tuning_s, training=training_s, evaluation=evaluation_s),
    }
    artifacts.write_json(out_dir / artifacts.METRICS, metrics)
    log.info("done in %.0f s: %s (metrics.json, report.html)", metrics["total_wall_s"], out_dir)
    return metrics


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
    train_all = corpus.train.subset(bucket.contains(corpus.train.lengths))
    test = corpus.test.subset(bucket.contains(corpus.test.lengths))
    where = f"bucket {bucket.name} [{bucket.min_len}, {bucket.max_len}] of {corpus.source}"
    if len(train_all) < MIN_TRAIN_REVIEWS or len(set(train_all.labels)) < 2:
        raise UserError(f"{where} has {len(train_all)} training reviews: too few to train; choose a wider bucket")
    if len(test) == 0:
        raise UserError(f"{where} has no test reviews: choose a wider bucket")
    train_idx, val_idx = train_test_split(
        np.arange(len(train_all)), test_size=cfg.data.val_fraction, stratify=train_all.labels, random_state=cfg.seed
    )
    vocab_size = min(cfg.data.vocab_size, data.FIRST_WORD_ID + len(corpus.vocab))
    return BucketSplits(bucket, train_all, train_all.subset(train_idx), train_all.subset(val_idx), test, vocab_size)


def fit(model, train_ds, val_ds, train_cfg, out_dir: Path, verbose: int) -> pd.DataFrame:
    """Train with early stopping, LR reduction and a best-model checkpoint; return the history table."""
    epoch_log = EpochLog()
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=train_cfg.epochs,
        shuffle=False,  # train_ds reshuffles itself every epoch
        verbose=verbose,
        callbacks=[
            keras.callbacks.EarlyStopping(train_cfg.monitor, patience=train_cfg.patience, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(
                train_cfg.monitor, factor=train_cfg.reduce_lr.factor, patience=train_cfg.reduce_lr.patience,
                min_lr=train_cfg.reduce_lr.min_lr,
            ),
            keras.callbacks.ModelCheckpoint(out_dir / "checkpoints" / "best.keras", train_cfg.monitor, save_best_only=True),
            keras.callbacks.TensorBoard(str(out_dir / "tensorboard")),
            keras.callbacks.TerminateOnNaN(),
            epoch_log,
        ],
    )
    history = pd.DataFrame(epoch_log.rows)
    artifacts.write_csv(out_dir / "history.csv", history)
    if history.empty or not np.isfinite(history["loss"]).all():
        raise RuntimeError("training diverged (NaN loss); lower arch.learning_rate or set arch.clipnorm")
    return history


def loss_and_accuracy(probability: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """What model.evaluate reports (Keras' binary cross-entropy, accuracy at 0.5), from predictions we keep anyway."""
    loss = keras.losses.BinaryCrossentropy()(labels.astype("float32"), probability)
    return float(keras.ops.convert_to_numpy(loss)), float(np.mean((probability > 0.5) == labels))


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

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}}
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["epoch_time_s"] = round(time.perf_counter() - self._t0, 3)
        self.rows.append(row)
        log.info("epoch %d: %s", row["epoch"], ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))


def tokenizer_spec(corpus: data.Corpus, vocab_size: int, data_cfg) -> dict:
    """Everything needed to turn raw text into this model's inputs (read by imdb_rnn.predict)."""
    return {
        "format": data.TOKENIZER_FORMAT,
        **data.TOKENIZER_RULES,
        "vocab_size": vocab_size,
        "max_len": data_cfg.max_len,
        "keep": data_cfg.keep,
        "words": corpus.vocab[: vocab_size - data.FIRST_WORD_ID],
    }


def check_config(cfg) -> None:
    """Catch impossible settings before any work, with a message that names the fix."""
    checks = [
        (cfg.arch.cell in CELLS, f"arch.cell={cfg.arch.cell!r}: use one of {sorted(CELLS)}"),
        (cfg.arch.head in HEADS, f"arch.head={cfg.arch.head!r}: use one of {list(HEADS)}"),
        (_positive_int(cfg.arch.units), f"arch.units={cfg.arch.units!r}: use a positive integer"),
        (_positive_int(cfg.arch.embedding_dim), f"arch.embedding_dim={cfg.arch.embedding_dim!r}: use a positive integer"),
        (_positive_int(cfg.arch.num_layers), f"arch.num_layers={cfg.arch.num_layers!r}: use a positive integer"),
        (_fraction(cfg.arch.dropout, allow_zero=True), f"arch.dropout={cfg.arch.dropout!r}: use a number in [0, 1)"),
        (_positive_number(cfg.arch.learning_rate), f"arch.learning_rate={cfg.arch.learning_rate!r}: use a positive number"),
        (_positive_int(cfg.train.epochs), f"train.epochs={cfg.train.epochs!r}: use a positive integer"),
        (_positive_int(cfg.train.batch_size), f"train.batch_size={cfg.train.batch_size!r}: use a positive integer"),
        (cfg.train.monitor in ("val_loss", "val_accuracy"), f"train.monitor={cfg.train.monitor!r}: use val_loss or val_accuracy"),
        (_fraction(cfg.data.val_fraction), f"data.val_fraction={cfg.data.val_fraction!r}: use a number in (0, 1)"),
        (_positive_int(cfg.data.vocab_size) and cfg.data.vocab_size > data.FIRST_WORD_ID,
         f"data.vocab_size={cfg.data.vocab_size!r}: use an integer above {data.FIRST_WORD_ID}"),
        (cfg.data.max_len is None or _positive_int(cfg.data.max_len), f"data.max_len={cfg.data.max_len!r}: use a positive integer or null"),
        (cfg.data.keep in ("first", "last"), f"data.keep={cfg.data.keep!r}: use first or last"),
        (cfg.tuner.kind in ("hyperband", "random", "bayesian", "none"), f"tuner.kind={cfg.tuner.kind!r}: use hyperband, random, bayesian or none"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    if cfg.tuner.kind != "none":
        tuning.distributed_env(cfg.tuner)  # a bad tuner.distributed setting fails here, before any work
    for key in ("min_len", "max_len"):
        value = cfg.bucket[key]
        if value is not None and not (isinstance(value, int) and value >= 0):
            raise UserError(f"bucket.{key}={value!r}: use a non-negative integer")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _fraction(value, allow_zero=False) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (0 <= value if allow_zero else 0 < value) and value < 1


def configure_tensorflow(cfg) -> None:
    """Threads and seeds; must run before TensorFlow executes its first op."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cfg.threads.intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(cfg.threads.inter_op)
    except RuntimeError:  # already initialized (a second job in the same process): keep what it has
        pass
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
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
