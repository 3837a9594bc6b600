"""One real job through the command line, on the bundled sample: artifacts, determinism, the typed
`bucket=130_175` command, and every user-facing failure (one line, non-zero exit, nothing that looks done)."""

import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import REPO, TINY, cli_env, wait_for
from imdb_rnn import data

pytestmark = pytest.mark.slow

METRIC_KEYS = {
    "arch", "bucket", "n_train", "n_val", "n_test", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
    "test_loss", "test_accuracy", "best_hyperparameters", "tuning_wall_s", "training_wall_s", "epochs_run",
    "versions", "status",
}


def test_quick_job_writes_every_artifact(quick_job):
    metrics = json.loads((quick_job / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics) and metrics["status"] == "complete"
    assert metrics["bucket"] == {"name": "all", "min_len": 0, "max_len": None, "scheme": "fixed"}
    assert metrics["n_train"] + metrics["n_val"] == 2000 and metrics["n_test"] == 1000
    assert abs(metrics["n_val"] / 2000 - 0.2) < 0.01
    assert set(metrics["best_hyperparameters"]) == {"embedding_dim", "units", "dropout"}
    assert {"tensorflow", "keras", "keras_tuner"} <= set(metrics["versions"])
    for split in ("train", "val", "test"):
        assert 0.0 <= metrics[f"{split}_accuracy"] <= 1.0 and np.isfinite(metrics[f"{split}_loss"])

    history = pd.read_csv(quick_job / "history.csv")
    assert list(history.columns[:1]) == ["epoch"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time_s"} <= set(history.columns)
    assert len(history) == metrics["epochs_run"] and (history["epoch_time_s"] > 0).all()

    predictions = pd.read_csv(quick_job / "predictions.csv")
    assert list(predictions.columns) == ["review_id", "length", "label", "probability"]
    assert len(predictions) == metrics["n_test"] and predictions["review_id"].is_unique
    assert predictions["probability"].between(0, 1).all()
    # the recorded test accuracy is the one these predictions give
    accuracy = ((predictions["probability"] > 0.5) == predictions["label"]).mean()
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    # and the validation reviews', none of them a test review
    val_predictions = pd.read_csv(quick_job / "val_predictions.csv")
    assert list(val_predictions.columns) == list(predictions.columns) and len(val_predictions) == metrics["n_val"]
    assert not set(val_predictions["review_id"]) & set(predictions["review_id"])
    val_accuracy = ((val_predictions["probability"] > 0.5) == val_predictions["label"]).mean()
    assert val_accuracy == pytest.approx(metrics["val_accuracy"], abs=1e-6)
    # bucket=all is also scored on each classic length range that holds sample test reviews
    by_length = metrics["test_by_length"]
    assert len(by_length) > 1 and sum(r["reviews"] for r in by_length.values()) <= metrics["n_test"]
    for name, result in by_length.items():
        low, high = map(int, name.split("_"))
        in_range = predictions[predictions["length"].between(low, high)]
        assert result["reviews"] == len(in_range)
        assert result["accuracy"] == pytest.approx(((in_range["probability"] > 0.5) == in_range["label"]).mean(), abs=1e-6)

    trials = pd.read_csv(quick_job / "tuner_trials.csv")
    assert len(trials) == 2 and {"trial_id", "score", "units", "embedding_dim", "dropout"} <= set(trials.columns)
    assert (quick_job / "tuner" / "search" / "oracle.json").exists()  # the tuner project lives in the job dir

    model = keras.models.load_model(quick_job / "model.keras")
    assert model.layers[1].output_dim == metrics["best_hyperparameters"]["embedding_dim"]
    tokenizer = json.loads((quick_job / "tokenizer.json").read_text())
    assert tokenizer["vocab_size"] == 5000 and len(tokenizer["words"]) == 5000 - 3

    report = (quick_job / "report.html").read_text()
    assert report.count('class="plotly-graph-div"') == 3 and "Tuner trials" in report and "Token lengths" in report
    assert 'src="http' not in report and len(report) > 3_000_000  # plotly.js embedded: works offline
    assert (quick_job / "checkpoints" / "best.keras").exists()
    assert any((quick_job / "tensorboard").rglob("events.out.tfevents.*"))
    assert "test accuracy" in (quick_job / "imdb_rnn.log").read_text()
    resolved = (quick_job / "config.yaml").read_text()
    assert "name: all" in resolved and "${" not in resolved
    assert not list(quick_job.glob(".*.tmp*")) and not [p for p in quick_job.iterdir() if p.name.startswith(".metrics")]


def test_same_config_gives_the_same_metrics(run_cli, tmp_path):
    runs = []
    for name in ("a", "b"):
        result = run_cli(*TINY, f"hydra.run.dir={tmp_path / name}")
        assert result.returncode == 0, result.stderr[-2000:]
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy", "epochs_run"):
        assert runs[0][key] == runs[1][key], key


def test_cosine_schedule_and_attention_head(run_cli, tmp_path):
    result = run_cli(*TINY, "train.lr_schedule=cosine", "arch.head=attention", "arch.learning_rate=0.002", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    history = pd.read_csv(tmp_path / "history.csv")
    # cosine over train.epochs=2, set at the start of each epoch: 0.002, then 0.002 * (1 + cos(pi / 2)) / 2
    np.testing.assert_allclose(history["learning_rate"], [0.002, 0.001], rtol=1e-5)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"]["head"] == "attention" and metrics["status"] == "complete"


def test_refit_learns_from_train_and_val_for_the_epochs_validation_chose(run_cli, tmp_path):
    """train.refit: the same job as without it up to the early-stopped model, which chooses the epoch
    count and gives the validation scores; the model kept is a fresh one trained on train + val."""
    jobs = {}
    for name, refit in (("plain", "false"), ("refit", "true")):
        result = run_cli(*TINY, "train.epochs=3", "train.lr_schedule=cosine", f"train.refit={refit}", f"hydra.run.dir={tmp_path / name}")
        assert result.returncode == 0, result.stderr[-2000:]
        jobs[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    plain, refit = jobs["plain"], jobs["refit"]
    assert plain["refit"] is None
    record = refit["refit"]
    assert record["epochs"] == refit["best_epoch"] == plain["best_epoch"]
    assert record["n_reviews"] == refit["n_train"] + refit["n_val"] == 2000
    # validation scores and the recorded test figure are the early-stopped model's: the plain job's own
    for key in ("val_loss", "val_accuracy"):
        assert refit[key] == plain[key], key
    assert record["selected_test_accuracy"] == plain["test_accuracy"]
    assert record["selected_test_by_length"] == plain["test_by_length"]
    # the model kept is another one, and predictions.csv is its
    predictions = pd.read_csv(tmp_path / "refit" / "predictions.csv")
    assert ((predictions["probability"] > 0.5) == predictions["label"]).mean() == pytest.approx(refit["test_accuracy"], abs=1e-9)
    plain_predictions = pd.read_csv(tmp_path / "plain" / "predictions.csv")
    assert not np.allclose(predictions["probability"], plain_predictions["probability"])
    # while val_predictions.csv is the early-stopped model's, as the validation scores are
    val_predictions = [pd.read_csv(tmp_path / name / "val_predictions.csv") for name in ("plain", "refit")]
    pd.testing.assert_frame_equal(*val_predictions)
    # each refit epoch ran at the rate that epoch had when validation chose
    history = pd.read_csv(tmp_path / "refit" / "history.csv")
    refit_history = pd.read_csv(tmp_path / "refit" / "refit_history.csv")
    assert len(refit_history) == record["epochs"] and "val_loss" not in refit_history
    np.testing.assert_allclose(refit_history["learning_rate"], history["learning_rate"][: record["epochs"]])

    # train.refit_from: the plain job's choice taken over, only the refit run: the refit job's figures
    plain_dir = tmp_path / "plain"
    result = run_cli(*TINY, "train.epochs=3", "train.lr_schedule=cosine", "train.refit=true", f"train.refit_from={plain_dir}",
                     "threads.intra_op=1", f"hydra.run.dir={tmp_path / 'later'}")
    assert result.returncode == 0, result.stderr[-2000:]
    later = json.loads((tmp_path / "later" / "metrics.json").read_text())
    assert later["refit"] == {**record, "from": str(plain_dir), "wall_s": later["refit"]["wall_s"]}
    for key in ("test_accuracy", "test_loss", "val_accuracy", "val_loss", "test_by_length", "best_epoch", "model"):
        assert later[key] == refit[key], key
    assert later["tuning_wall_s"] == 0 and later["training_wall_s"] < refit["training_wall_s"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "later" / "predictions.csv"), predictions, check_exact=True)
    assert (tmp_path / "later" / "history.csv").read_text() == (plain_dir / "history.csv").read_text()
    # another setting, or the source's own dir: one line, and the source job untouched
    other = run_cli(*TINY, "train.epochs=3", "train.refit=true", f"train.refit_from={plain_dir}", f"hydra.run.dir={tmp_path / 'other'}")
    assert_one_line_failure(other, "other settings (train.lr_schedule)", "same settings")
    itself = run_cli(*TINY, "train.epochs=3", "train.lr_schedule=cosine", "train.refit=true", f"train.refit_from={plain_dir}",
                     f"hydra.run.dir={plain_dir}")
    assert_one_line_failure(itself, "this job's own dir")
    assert json.loads((plain_dir / "metrics.json").read_text()) == plain
    # a source that learned from other reviews (its counts differ): one line, nothing refit
    shutil.copytree(plain_dir, tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "metrics.json").write_text(json.dumps({**plain, "n_train": 999}))
    odd = run_cli(*TINY, "train.epochs=3", "train.lr_schedule=cosine", "train.refit=true",
                  f"train.refit_from={tmp_path / 'elsewhere'}", f"hydra.run.dir={tmp_path / 'odd'}")
    assert_one_line_failure(odd, "had 999 train / 400 val reviews, this job 1600 / 400", "same data")
    assert not (tmp_path / "odd" / "model.keras").exists()
    # a source made before some settings existed: each one it lacks is read as its default today
    older = tmp_path / "older"
    shutil.copytree(plain_dir, older)
    config = OmegaConf.load(older / "config.yaml")
    del config.arch["adversarial"], config.arch["word_dropout"]  # both at their defaults in this job
    OmegaConf.save(config, older / "config.yaml")
    upgraded = run_cli(*TINY, "train.epochs=3", "train.lr_schedule=cosine", "train.refit=true", f"train.refit_from={older}",
                       f"hydra.run.dir={tmp_path / 'upgraded'}")
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "upgraded" / "predictions.csv"), predictions, check_exact=True)
    del config.train["lr_schedule"]  # read as plateau, the default; this job says cosine
    OmegaConf.save(config, older / "config.yaml")
    moved = run_cli(*TINY, "train.epochs=3", "train.lr_schedule=cosine", "train.refit=true", f"train.refit_from={older}",
                    f"hydra.run.dir={tmp_path / 'moved'}")
    assert_one_line_failure(moved, "other settings (train.lr_schedule)", "same settings")
    assert not (tmp_path / "moved" / "model.keras").exists()
    assert json.loads((older / "metrics.json").read_text()) == plain  # the source untouched


def test_weight_averaging_validates_checkpoints_and_keeps_the_averaged_weights(run_cli, tmp_path):
    """arch.ema_momentum: the model kept is the one validation scored. metrics.json's val_loss is computed
    afresh from the saved model's predictions; it equals the best epoch's val_loss in history.csv only if
    the checkpoint holds the same (averaged) weights that validation saw."""
    result = run_cli(*TINY, "train.epochs=3", "arch.ema_momentum=0.6", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    history = pd.read_csv(tmp_path / "history.csv")
    assert metrics["model"]["ema_momentum"] == 0.6 and len(history) == 3
    assert metrics["val_loss"] == pytest.approx(history["val_loss"].min(), abs=1e-5)


def test_extended_search_space_runs_a_real_search(run_cli, tmp_path):
    """Every key of tuner/search_space=extended reaches the trials and the best settings; so does the
    weight averaging's momentum."""
    result = run_cli("experiment=quick", "tuner/search_space=extended", "tuner.epochs=1", "train.epochs=1", "arch.ema_momentum=0.9",
                     "+tuner.search_space.ema_momentum={type:choice,values:[0.5,0.9]}", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"learning_rate", "bidirectional", "head", "embedding_dropout", "ema_momentum"} <= set(metrics["best_hyperparameters"])
    for key in ("embedding_dropout", "ema_momentum"):
        assert metrics["model"][key] == metrics["best_hyperparameters"][key]
    assert len(pd.read_csv(tmp_path / "tuner_trials.csv")) == 2


def test_bucket_130_175_exactly_as_typed(run_cli, tmp_path):
    result = run_cli(*TINY, "arch=gru", "bucket=130_175", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["arch"] == "gru" and metrics["bucket"]["name"] == "130_175"
    assert (metrics["bucket"]["min_len"], metrics["bucket"]["max_len"]) == (130, 175)
    lengths = pd.read_csv(tmp_path / "predictions.csv")["length"]
    assert lengths.between(130, 175).all() and len(lengths) == metrics["n_test"] > 0


def test_default_run_dir_is_named_by_arch_and_bucket(run_cli, tmp_path):
    result = run_cli(*TINY, "arch=rnn", "bucket=176_284", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (job_dir,) = (tmp_path / "outputs" / "runs" / "rnn_176_284").iterdir()
    assert json.loads((job_dir / "metrics.json").read_text())["status"] == "complete"


def test_relative_paths_mean_the_launch_dir_with_hydra_job_chdir(run_cli, tmp_path):
    # hydra.job.chdir=true runs the job inside its output dir; data.path and data.cache_dir given relative to
    # where the command ran must still point there (before: "data.path=reviews.tar.gz does not exist").
    shutil.copy(data.SAMPLE_PATH, tmp_path / "reviews.tar.gz")
    result = run_cli(*TINY, "data=imdb", "data.path=reviews.tar.gz", "data.cache_dir=cache", "hydra.job.chdir=true",
                     "hydra.run.dir=job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "job" / "metrics.json").read_text())["status"] == "complete"
    assert list((tmp_path / "cache").glob("*.npz")) and not (tmp_path / "job" / "cache").exists()
    recorded = OmegaConf.load(tmp_path / "job" / "config.yaml").data
    assert (recorded.path, recorded.cache_dir) == (str(tmp_path / "reviews.tar.gz"), str(tmp_path / "cache"))


def assert_one_line_failure(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("imdb_rnn: error: "), result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in last, last


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["arch=transformer"], ["unknown arch 'transformer'", "gru, lstm, rnn"]),
        (["bucket=13_175"], ["unknown bucket '13_175'", "130_175"]),
        (["tuner=grid"], ["unknown tuner 'grid'"]),
        (["train.epoch=2"], ["train.epoch is not a setting", "did you mean train.epochs?"]),
        (["-m", "--cfg", "job"], ["--multirun and --cfg do not go together"]),  # Hydra: a traceback
    ],
)
def test_unknown_choices_fail_before_any_work(run_cli, tmp_path, overrides, fragments):
    result = run_cli(*TINY, *overrides, f"hydra.run.dir={tmp_path / 'job'}")
    assert_one_line_failure(result, *fragments)
    assert not (tmp_path / "job").exists()


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["bucket.min_len=300", "bucket.max_len=200"], ["min_len <= max_len"]),
        (["bucket.min_len=5000", "bucket.max_len=6000"], ["too few to train", "wider bucket"]),
        (["train.epochs=0"], ["train.epochs=0", "positive integer"]),
        (["arch.embedding_dropout=1"], ["arch.embedding_dropout=1", "[0, 1)"]),
        (["arch.recurrent_dropout=-0.1"], ["arch.recurrent_dropout=-0.1", "[0, 1)"]),
        (["arch.word_dropout=1"], ["arch.word_dropout=1", "[0, 1)"]),
        (["data.val_fraction=1.5"], ["data.val_fraction"]),
        (["data.val_split=film"], ["data.val_split='film'", "random or movie"]),
        (["data.keep=middle"], ["data.keep='middle'", "first, last or both"]),
        (["data.window=0"], ["data.window=0", "positive integer"]),
        (["data.window_average=median"], ["data.window_average='median'", "log_odds or probability"]),
        (["train.lr_schedule=step"], ["train.lr_schedule='step'", "plateau, cosine or constant"]),
        (["train.jit_compile=maybe"], ["train.jit_compile='maybe'", "true or false"]),
        (["train.refit=later"], ["train.refit='later'", "true or false"]),
        (["train.refit_from=/no/such/job"], ["train.refit_from=/no/such/job", "needs train.refit=true"]),
        (["train.refit=true", "train.refit_from=/no/such/job"], ["train.refit_from=/no/such/job", "not a complete job dir"]),
        (["arch.ema_momentum=1"], ["arch.ema_momentum=1", "(0, 1)"]),
        (["arch.adversarial=5"], ["arch.adversarial=5", "(0, 1)"]),
        (["arch.virtual_adversarial=5"], ["arch.virtual_adversarial=5", "(0, 1)"]),
        (["tuner=random", "+tuner.search_space.ema_momentum={type:choice,values:[0.9,0.99]}"],
         ["tuner.search_space.ema_momentum", "arch.ema_momentum"]),
        (["train.shape_cost=-1"], ["train.shape_cost=-1", ">= 0"]),
        (["tuner=random", "tuner.max_trials=0"], ["tuner.max_trials=0", "positive integer"]),  # was a search without end
        (["threads.intra_op=-1"], ["threads.intra_op=-1", ">= 0"]),  # was an abort inside TensorFlow
        (["data.train_scope=everything"], ["data.train_scope='everything'", "use bucket or all"]),
        (["test_by_length=[[0,129],[175,130]]"], ["test_by_length=", "[min_len, max_len]"]),
        (["data.path=/nonexistent/aclImdb_v1.tar.gz", "data.source=archive"], ["does not exist", "data.path"]),
        (["data.path=/data/aclImdb_v1.tar.gz"], ["data.path=/data/aclImdb_v1.tar.gz is not read with data=sample", "data=imdb"]),
    ],
)
def test_impossible_settings_fail_with_one_line_and_a_failed_status(run_cli, tmp_path, overrides, fragments):
    result = run_cli(*TINY, *overrides, f"hydra.run.dir={tmp_path}")
    assert_one_line_failure(result, *fragments)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and fragments[0] in metrics["error"]
    assert not (tmp_path / "model.keras").exists() and not (tmp_path / "predictions.csv").exists()
    assert not (tmp_path / "model.npz").exists()


def test_an_output_dir_that_cannot_be_made_is_one_line(run_cli, tmp_path):
    """IMDB_RNN_OUTPUTS or hydra.*.dir pointing where nothing can be written (here: under a file) stops
    the run or the sweep before any job, in one line, without Hydra's traceback or a half-made summary."""
    (tmp_path / "a_file").write_text("")
    single = run_cli(*TINY, f"hydra.run.dir={tmp_path / 'a_file' / 'job'}")
    assert_one_line_failure(single, f"cannot create the job dir {tmp_path / 'a_file' / 'job'}", "set hydra.run.dir")
    sweep = run_cli("-m", *TINY, "seed=1,2", env={"IMDB_RNN_OUTPUTS": str(tmp_path / "a_file")})
    assert_one_line_failure(sweep, f"cannot create the sweep dir {tmp_path / 'a_file' / 'multiruns'}", "IMDB_RNN_OUTPUTS")
    assert sweep.stderr.count("\n") == 1


def test_impossible_settings_fail_before_tensorflow_loads(run_cli, tmp_path):
    """A typo costs a second or two, not TensorFlow's import: here a `tensorflow` that cannot be imported
    stands in front of the real one, and only the job with good settings gets as far as importing it."""
    fake = tmp_path / "shadow" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('TensorFlow was imported')\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")]))}
    bad = run_cli(*TINY, "train.epochs=0", f"hydra.run.dir={tmp_path / 'bad'}", env=env)
    assert_one_line_failure(bad, "train.epochs=0", "positive integer")
    no_data = run_cli(*TINY, "data=imdb", "data.path=/no/such/aclImdb_v1.tar.gz", f"hydra.run.dir={tmp_path / 'no_data'}", env=env)
    assert_one_line_failure(no_data, "data.path=/no/such/aclImdb_v1.tar.gz does not exist")
    good = run_cli(*TINY, f"hydra.run.dir={tmp_path / 'good'}", env=env)
    assert good.returncode != 0 and "TensorFlow was imported" in good.stderr


def test_refit_from_is_for_the_recurrent_models(run_cli, tmp_path):
    result = run_cli("experiment=quick", "arch=tfidf_lr", "train.refit=true", "train.refit_from=/no/such/job", f"hydra.run.dir={tmp_path}")
    assert_one_line_failure(result, "train.refit_from is for the recurrent models", "drop train.refit_from")


def test_refit_from_a_job_whose_config_is_unreadable(run_cli, tmp_path):
    source = tmp_path / "source"
    (source / "checkpoints").mkdir(parents=True)
    for name in ("history.csv", "checkpoints/best.keras"):
        (source / name).write_text("")
    (source / "metrics.json").write_text(json.dumps({"status": "complete"}))
    (source / "config.yaml").write_text("arch: [unclosed\n")
    result = run_cli(*TINY, "train.refit=true", f"train.refit_from={source}", f"hydra.run.dir={tmp_path / 'job'}")
    assert_one_line_failure(result, "its config.yaml is unreadable", "give the dir of a finished job")
    assert json.loads((tmp_path / "job" / "metrics.json").read_text())["status"] == "failed"
    assert json.loads((source / "metrics.json").read_text()) == {"status": "complete"}


def test_a_search_state_cut_off_by_a_kill_says_what_to_delete(run_cli, tmp_path):
    search = tmp_path / "job" / "tuner" / "search"
    search.mkdir(parents=True)
    for name in ("tuner0.json", "oracle.json"):  # what a job killed mid-save left before saves were atomic
        (search / name).write_text("")
    result = run_cli(*TINY, "tuner=random", "tuner.max_trials=1", "tuner.epochs=1", f"hydra.run.dir={tmp_path / 'job'}")
    assert_one_line_failure(result, f"the saved tuner search in {search} is unreadable", "delete that dir")
    assert json.loads((tmp_path / "job" / "metrics.json").read_text())["status"] == "failed"
    assert not (tmp_path / "job" / "model.keras").exists() and not (tmp_path / "job" / "predictions.csv").exists()


@pytest.mark.usefixtures("ctrl_c_reaches_children")
@pytest.mark.parametrize(("signum", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_stop_signal_during_training_records_an_interrupted_job(cache_dir, tmp_path, signum, name):
    """`kill` (SIGTERM; also docker stop, a scheduler's time limit) or Ctrl-C once the first epoch is saved:
    the job says so in one line, exits 128 + the signal's number, and its metrics.json says interrupted
    instead of running forever."""
    out = tmp_path / "job"
    args = [sys.executable, "-m", "imdb_rnn", *TINY, "train.epochs=500", "train.patience=500", f"hydra.run.dir={out}"]
    env = cli_env(cache_dir)
    log = tmp_path / "stderr.log"  # a file, not a pipe: nothing blocks the job while the test waits
    with log.open("w") as stderr_file:
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr_file)
        try:
            wait_for((out / "checkpoints" / "best.keras").exists, proc, log, "the first epoch's checkpoint")
            proc.send_signal(signum)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = log.read_text()
    assert proc.returncode == 128 + signum, stderr[-3000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f"imdb_rnn: error: stopped by {name}: run the same command again")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and name in metrics["error"]
    assert "Traceback" not in (out / "imdb_rnn.log").read_text()  # a stop on purpose is not a crash
    assert not (out / "model.keras").exists() and not (out / "predictions.csv").exists()


def test_corrupt_archive(run_cli, tmp_path):
    bad = tmp_path / "aclImdb_v1.tar.gz"
    bad.write_bytes(b"\x1f\x8b" + b"\x00" * 1000)
    result = run_cli(*TINY, "data=imdb", f"data.path={bad}", f"hydra.run.dir={tmp_path / 'job'}")
    assert_one_line_failure(result, "not a readable aclImdb archive", "data.path")


def test_no_internet_and_no_local_copy_says_how_to_pass_a_path(run_cli, tmp_path):
    result = run_cli(
        "data=imdb", "tuner=none", f"hydra.run.dir={tmp_path / 'job'}",
        env={
            "KERAS_HOME": str(tmp_path / "keras_home"),  # no cached download
            "IMDB_RNN_CACHE": str(tmp_path / "cache"),
            # an unreachable proxy: offline even on a machine with internet, and fast
            "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
        },
    )
    assert_one_line_failure(result, "could not download", "data.path=", "IMDB_RNN_DATA")
    assert json.loads((tmp_path / "job" / "metrics.json").read_text())["status"] == "failed"
