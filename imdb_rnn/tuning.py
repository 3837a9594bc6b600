"""Keras Tuner search over a search space written in YAML (conf/tuner/search_space).

Each search-space key names a model setting from conf/arch; the tuner picks its value, every other
setting keeps the arch's. The tuner's project lives in the job's output dir, so re-running a job in
the same dir resumes an interrupted search instead of starting over.
"""

import logging
import warnings
from pathlib import Path

import keras
import keras_tuner as kt
import pandas as pd

from imdb_rnn import UserError
from imdb_rnn.models import build_model

log = logging.getLogger(__name__)

# Hyperband continues a promising trial from its saved weights with a fresh optimizer, which Keras
# reports as skipped optimizer variables: expected, not a problem.
warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")


class TrialLog(keras.callbacks.Callback):
    """One line in the job log per finished trial (Keras Tuner itself only prints to the terminal)."""

    def on_train_begin(self, logs=None):
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs, self.last = epoch + 1, logs or {}

    def on_train_end(self, logs=None):
        log.info("trial done after %d epochs: %s", self.epochs, ", ".join(f"{k}={v:.4f}" for k, v in self.last.items()))


def _declare(hp: kt.HyperParameters, name: str, spec: dict):
    spec = dict(spec)
    kind = spec.pop("type", None)
    declare = {"choice": hp.Choice, "int": hp.Int, "float": hp.Float, "boolean": hp.Boolean}.get(kind)
    if declare is None:
        raise UserError(f"tuner.search_space.{name}.type={kind!r}: use choice, int, float or boolean")
    try:
        return declare(name, **spec)
    except (TypeError, ValueError) as exc:
        raise UserError(f"tuner.search_space.{name} is not a valid {kind} range ({exc})") from None


class SearchSpaceModel(kt.HyperModel):
    def __init__(self, arch: dict, search_space: dict, vocab_size: int):
        super().__init__()
        unknown = set(search_space) - set(arch)
        if unknown:
            raise UserError(
                f"tuner.search_space has {sorted(unknown)}, which are not model settings; use keys of conf/arch: {sorted(arch)}"
            )
        self.arch, self.search_space, self.vocab_size = arch, search_space, vocab_size

    def build(self, hp):
        settings = dict(self.arch)
        for name, spec in self.search_space.items():
            settings[name] = _declare(hp, name, spec)
        return build_model(settings, self.vocab_size)


def make_tuner(cfg, hypermodel: SearchSpaceModel, directory: Path, seed: int) -> kt.Tuner:
    common = dict(
        objective=kt.Objective(cfg.objective, direction="min" if "loss" in cfg.objective else "max"),
        seed=seed,
        directory=str(directory),
        project_name="search",
        overwrite=False,  # resume
    )
    if cfg.kind == "hyperband":
        return kt.Hyperband(
            hypermodel, max_epochs=cfg.max_epochs, factor=cfg.factor, hyperband_iterations=cfg.hyperband_iterations, **common
        )
    if cfg.kind == "random":
        return kt.RandomSearch(hypermodel, max_trials=cfg.max_trials, **common)
    if cfg.kind == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=cfg.max_trials, **common)
    raise UserError(f"unknown tuner.kind={cfg.kind!r}: use hyperband, random, bayesian or none")


def search(cfg, arch: dict, vocab_size: int, train_ds, val_ds, directory: Path, seed: int, callbacks, verbose: int):
    """Run (or resume) the search; return the best settings (arch + tuned values) and the trials table."""
    hypermodel = SearchSpaceModel(arch, dict(cfg.search_space), vocab_size)
    tuner = make_tuner(cfg, hypermodel, directory, seed)
    fit_args = {"shuffle": False}  # train_ds reshuffles itself every epoch
    if cfg.kind != "hyperband":  # Hyperband sets each trial's epochs itself
        fit_args["epochs"] = cfg.epochs
    tuner.search(train_ds, validation_data=val_ds, callbacks=[*callbacks, TrialLog()], verbose=verbose, **fit_args)
    best = tuner.get_best_hyperparameters(1)[0].values
    # Float steps accumulate binary error (0.30000000000000004): round what gets reported and retrained.
    tuned = {k: round(v, 8) if isinstance(v, float) else v for k, v in best.items() if not k.startswith("tuner/")}
    keras.backend.clear_session()
    return {**arch, **tuned}, tuned, trials_table(tuner)


def trials_table(tuner: kt.Tuner) -> pd.DataFrame:
    rows = []
    for trial in tuner.oracle.trials.values():
        rows.append(
            {
                "trial_id": trial.trial_id,
                "status": trial.status,
                "score": trial.score,
                "best_step": trial.best_step,
                **{k.replace("tuner/", "tuner_"): v for k, v in trial.hyperparameters.values.items()},
            }
        )
    return pd.DataFrame(rows)
