"""The linear baseline (arch=tfidf_lr) as a first-class arch, and the training-scope switch."""

import json

import numpy as np
import pandas as pd
import pytest

from omegaconf import OmegaConf

from imdb_rnn import data, linear, plots
from imdb_rnn.predict import load_run

pytestmark = pytest.mark.slow


def test_tfidf_lr_job_writes_the_usual_results_and_a_pickle_free_model(run_cli, tmp_path):
    result = run_cli("experiment=quick", "arch=tfidf_lr", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["arch"] == "tfidf_lr" and metrics["tuner"] == "none"
    assert metrics["n_trials"] == 0 and metrics["epochs_run"] is None
    assert metrics["test_accuracy"] > 0.75  # 2,000 sample reviews: a real baseline learns (0.88 here)

    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == metrics["n_test"]
    accuracy = ((predictions["probability"] > 0.5) == predictions["label"]).mean()
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)

    with np.load(tmp_path / "model.npz", allow_pickle=False) as saved:  # plain arrays only
        assert {"ngrams", "idf", "coef", "intercept"} <= set(saved.files)
        assert len(saved["ngrams"]) == len(saved["coef"]) == len(saved["idf"])
        assert any(" " in g for g in saved["ngrams"][:5000])  # word pairs, not just words
    assert not (tmp_path / "model.keras").exists()

    # The predict tool rebuilds it from the arrays and gives the job's own test probabilities.
    corpus = data.load(OmegaConf.create({"source": "sample", "path": None, "cache_dir": str(tmp_path / "cache")}))
    test = corpus.test
    ids = dict(zip(test.ids, test.sequences(linear.ALL_WORDS)))
    predictor = load_run(tmp_path)
    again = predictor.predict_ids([ids[i] for i in predictions["review_id"]])
    np.testing.assert_allclose(again, predictions["probability"], atol=1e-6)

    # A damaged model.npz: one line naming the fix, exit 1.
    (tmp_path / "model.npz").write_bytes(b"not an npz")
    result = run_cli(tmp_path, "a fine film", module="imdb_rnn.predict")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("imdb_rnn.predict: error: ")
    assert "could not be loaded as a tfidf_lr model" in result.stderr and "copy model.npz again" in result.stderr


def test_train_scope_all_learns_from_every_length_and_tests_on_the_bucket(run_cli, tmp_path):
    result = run_cli("experiment=quick", "arch=tfidf_lr", "bucket=130_175", "data.train_scope=all", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["train_scope"] == "all"
    assert metrics["n_train"] + metrics["n_val"] == 2000  # the whole sample's training reviews
    lengths = pd.read_csv(tmp_path / "predictions.csv")["length"]
    assert lengths.between(130, 175).all() and len(lengths) == metrics["n_test"]


def test_refit_fits_the_baseline_again_on_train_and_val(run_cli, tmp_path):
    jobs = {}
    for name, refit in (("plain", "false"), ("refit", "true")):
        result = run_cli("experiment=quick", "arch=tfidf_lr", f"train.refit={refit}", f"hydra.run.dir={tmp_path / name}")
        assert result.returncode == 0, result.stderr[-2000:]
        jobs[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    plain, refit = jobs["plain"], jobs["refit"]
    assert refit["refit"]["n_reviews"] == 2000
    assert refit["val_accuracy"] == plain["val_accuracy"]  # scored by the fit that never saw them
    assert refit["refit"]["selected_test_accuracy"] == plain["test_accuracy"]
    with np.load(tmp_path / "plain" / "model.npz") as a, np.load(tmp_path / "refit" / "model.npz") as b:
        assert len(b["ngrams"]) > len(a["ngrams"])  # 2,000 reviews hold more n-grams than 1,600


def test_impossible_baseline_setting_fails_in_one_line(run_cli, tmp_path):
    result = run_cli("experiment=quick", "arch=tfidf_lr", "arch.C=0", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("imdb_rnn: error: ") and "arch.C=0" in last and "positive number" in last
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"
    assert not (tmp_path / "model.npz").exists() and not (tmp_path / "predictions.csv").exists()


def test_the_report_draws_the_baseline_as_the_line_to_beat():
    done = pd.DataFrame({
        "cell": ["lstm", "lstm", "tfidf_lr", "tfidf_lr"], "bucket": ["0_129", "130_175"] * 2,
        "test_accuracy": [0.85, 0.84, 0.88, 0.87],
    })
    fig = plots.accuracy_bars(done, ["0_129", "130_175"])
    kinds = {trace.name: trace.type for trace in fig.data}
    assert kinds == {"lstm": "bar", "tfidf_lr": "scatter"}
    assert list(fig.data[1].y) == pytest.approx([88.0, 87.0])
