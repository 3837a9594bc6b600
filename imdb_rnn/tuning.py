"""Keras Tuner search over a search space written in YAML (conf/tuner/search_space).

Each search-space key names a model setting from conf/arch; the tuner picks its value, every other
setting keeps the arch's. The tuner's project lives in the job's output dir (or in tuner.directory),
so re-running a job in the same dir resumes an interrupted search instead of starting over.

Distributed search (tuner.distributed, README "Scaling out"): Keras Tuner's chief/worker mode, where
one chief process serves the oracle (which trial to run next, all the results) over gRPC and worker
processes run the trials, all in one shared tuner directory. Keras Tuner takes the role from the
KERASTUNER_* environment variables; `checks.distributed_env` maps the config onto them.
"""

import json
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import keras
import keras_tuner as kt
import keras_tuner.src.utils as kt_utils
import pandas as pd
from omegaconf import OmegaConf

from imdb_rnn import UserError
from imdb_rnn.checks import distributed_env
from imdb_rnn.models import build_model, ema_callbacks

log = logging.getLogger(__name__)

PROJECT_NAME = "search"  # the tuner project's dir, inside the job's tuner/ (or tuner.directory)

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


def _save_json_atomically(path, obj):
    """Keras Tuner's save_json, written whole or not at all: it truncates the file, then writes, so a
    job killed in between left an empty oracle.json that no later run could resume from."""
    text = json.dumps(obj)
    partial = f"{path}.partial"
    with open(partial, "w") as f:
        f.write(text)
    os.replace(partial, path)  # atomic on one filesystem: the old state or the new one, never half
    return text


# Every Keras Tuner state file (oracle, trials, tuner) is written through this one function.
kt_utils.save_json = _save_json_atomically


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
    def __init__(self, arch: dict, search_space: dict, vocab_size: int, jit_compile: bool = False, word_vectors=None):
        super().__init__()
        unknown = set(search_space) - set(arch)
        if unknown:
            raise UserError(
                f"tuner.search_space has {sorted(unknown)}, which are not model settings; use keys of conf/arch: {sorted(arch)}"
            )
        self.arch, self.search_space, self.vocab_size, self.jit_compile = arch, search_space, vocab_size, jit_compile
        self.word_vectors = word_vectors

    def build(self, hp):
        settings = dict(self.arch)
        for name, spec in self.search_space.items():
            settings[name] = _declare(hp, name, spec)
        return build_model(settings, self.vocab_size, self.jit_compile, self.word_vectors)


def make_tuner(cfg, hypermodel: SearchSpaceModel, directory: Path, seed: int) -> kt.Tuner:
    try:
        return _new_tuner(cfg, hypermodel, directory, seed)
    except json.JSONDecodeError:  # a state file cut off mid-write, by a run from before the atomic writes
        raise UserError(f"the saved tuner search in {Path(directory) / PROJECT_NAME} is unreadable (a file cut off by a "
                        "killed run): delete that dir to start this job's search over") from None


def _new_tuner(cfg, hypermodel: SearchSpaceModel, directory: Path, seed: int) -> kt.Tuner:
    common = dict(
        objective=kt.Objective(cfg.objective, direction="min" if "loss" in cfg.objective else "max"),
        seed=seed,
        directory=str(directory),
        project_name=PROJECT_NAME,
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


def project_parent(cfg, out_dir: Path) -> Path:
    """The dir that holds the tuner project: tuner.directory (shared by a distributed search), else the job's."""
    return Path(os.path.expanduser(cfg.directory)) if cfg.get("directory") else Path(out_dir) / "tuner"


_ENV_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@contextmanager
def keras_tuner_env(cfg):
    """Set KERASTUNER_* from tuner.distributed while the tuner is built and searches (Keras Tuner reads them
    at each check, not at import), and restore them afterwards: a later job of a sweep run in the same
    process tunes alone again. Variables set by hand are ignored: tuner.distributed decides."""
    env = distributed_env(cfg)
    saved = {key: os.environ.pop(key) for key in _ENV_KEYS if key in os.environ}
    if saved:
        log.warning("ignoring %s from the environment: set tuner.distributed instead", ", ".join(saved))
    os.environ.update(env)
    try:
        yield
    finally:
        for key in _ENV_KEYS:
            os.environ.pop(key, None)
        os.environ.update(saved)


def _record_worker_trials(tuner: kt.Tuner) -> list[dict]:
    """The trials this worker runs, filled in as they end. A worker's oracle is a client of the chief's,
    which alone keeps the full table, so the worker notes its own trials (and asks the chief their score)."""
    rows, on_trial_end = [], tuner.on_trial_end

    def record(trial):
        on_trial_end(trial)  # reports the trial to the chief
        score = tuner.oracle.get_trial(trial.trial_id).score
        rows.append({"trial_id": trial.trial_id, "status": trial.status, "score": score,
                     **{k.replace("tuner/", "tuner_"): v for k, v in trial.hyperparameters.values.items()}})
        log.info("trial %s done on %s: score %s", trial.trial_id, tuner.tuner_id, score)

    tuner.on_trial_end = record
    return rows


def search(cfg, arch: dict, vocab_size: int, train_ds, val_ds, directory: Path, seed: int, jit_compile: bool, callbacks, verbose: int,
           word_vectors=None):
    """Run (or resume) the search; return the best settings (arch + tuned values) and the trials table.
    A distributed-tuning worker returns (None, None, the trials it ran): the chief's job picks the best."""
    # Plain lists and dicts: Keras Tuner writes each trial's hyperparameters to JSON.
    search_space = OmegaConf.to_container(cfg.search_space, resolve=True)
    hypermodel = SearchSpaceModel(arch, search_space, vocab_size, jit_compile, word_vectors)
    role = (cfg.get("distributed") or {}).get("role")
    fit_args = {"shuffle": False}  # train_ds reshuffles itself every epoch
    if cfg.kind != "hyperband":  # Hyperband sets each trial's epochs itself
        fit_args["epochs"] = cfg.epochs
    with keras_tuner_env(cfg):
        tuner = make_tuner(cfg, hypermodel, directory, seed)
        worker_trials = _record_worker_trials(tuner) if role == "worker" else None
        if role:
            log.info("distributed search as %s %s, oracle at %s:%s, project %s", role, tuner.tuner_id,
                     cfg.distributed.oracle_ip, cfg.distributed.oracle_port, tuner.project_dir)
        if role == "chief":  # search() only serves the oracle, and returns when every worker is done
            log.info("serving the oracle until the workers have run all the trials")
        # The trials are scored (and Hyperband's continued) on the averaged weights, as the retraining is.
        tuner.search(train_ds, validation_data=val_ds, callbacks=[*ema_callbacks(arch), *callbacks, TrialLog()], verbose=verbose, **fit_args)
    if worker_trials is not None:
        keras.backend.clear_session()
        return None, None, pd.DataFrame(worker_trials)
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
