"""imdb_rnn.predict: a finished job's model.keras + tokenizer.json classify raw text as the job did.

Everything runs on the session's `quick_job` (a real job on the bundled sample). In-process tests use
load_run; a few subprocesses check the command line as a user runs it (each costs a TensorFlow import).
"""

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY
from imdb_rnn import UserError, data, inputs
from imdb_rnn.predict import Predictor, load_run

MODULE = "imdb_rnn.predict"
PREFIX = f"{MODULE}: error: "


@pytest.fixture(scope="module")
def predictor(quick_job) -> Predictor:
    return load_run(quick_job)


@pytest.fixture(scope="module")
def job_predictions(quick_job) -> pd.DataFrame:
    """The job's predictions.csv, with each test review's raw text re-read from the bundled archive."""
    table = pd.read_csv(quick_job / "predictions.csv")
    texts = {
        f"{split}/{label}/{review_id}": text
        for split, label, review_id, text in data._iter_review_files(data.SAMPLE_PATH)
        if split == "test"
    }
    assert set(table["review_id"]) <= texts.keys()
    table["text"] = [texts[rid] for rid in table["review_id"]]
    return table


def _copy_run(quick_job: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("metrics.json", "tokenizer.json", "model.keras"):
        shutil.copy(quick_job / name, dest / name)
    return dest


def _error_line(result) -> str:
    """The command's stderr, which must be exactly one `imdb_rnn.predict: error: ...` line."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ----------------------------------------------------------------------------------------------
# The saved model + tokenizer reproduce the job


def test_reproduces_the_jobs_test_predictions(predictor, job_predictions):
    texts = list(job_predictions["text"])
    # Same tokens: predictions.csv's length column counts each review's tokens, start token included.
    assert [len(s) for s in predictor.encode(texts)] == list(job_predictions["length"])
    probability = predictor.predict(texts, batch_size=37)
    assert probability.shape == (len(texts),)
    # Other batches pad reviews to other lengths: float32 sums in another order, 2e-5 apart seen on AVX2.
    np.testing.assert_allclose(probability, job_predictions["probability"], atol=1e-4, rtol=0)


def test_predictions_keep_input_order_and_ignore_batching(predictor, job_predictions):
    texts = list(job_predictions["text"].iloc[:12])[::-1]  # mixed lengths, so batches get padded
    together = predictor.predict(texts, batch_size=5)
    alone = np.array([predictor.predict([t], batch_size=1)[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("keep", ["first", "last", "both"])
def test_long_reviews_are_cut_like_training(predictor, quick_job, keep):
    """With tokenizer.json max_len=k, a review is read as training read it: its first or last k token ids,
    or both ends."""
    spec = json.loads((quick_job / "tokenizer.json").read_text(encoding="utf-8"))
    k = 6
    capped = Predictor(predictor.model, {**spec, "max_len": k, "keep": keep})
    words = "this film was a total waste of time but the ending was wonderful and moving".split()
    text = " ".join(words)
    ids = predictor.encode([text])[0]  # start token + one id per word
    assert len(ids) == len(words) + 1 > k and capped.truncated([ids]).all()
    if keep == "first":  # start token + the first k - 1 words
        expected = predictor.predict([" ".join(words[: k - 1])])[0]
    elif keep == "last":  # the last k ids, start token gone
        expected = float(predictor.model.predict(ids[None, -k:], verbose=0)[0, 0])
    else:  # start token + the first k/2 - 1 words, then the last k/2 words
        expected = predictor.predict([" ".join(words[: k // 2 - 1] + words[-k // 2 :])])[0]
    assert capped.predict([text])[0] == pytest.approx(expected, abs=1e-5)
    assert capped.predict([" ".join(words[:2])])[0] == pytest.approx(predictor.predict([" ".join(words[:2])])[0], abs=1e-5)


def test_odd_reviews_get_a_probability(predictor, job_predictions):
    long_review = data.tokenize(" ".join(job_predictions["text"]))
    long_review = " ".join((long_review * (20_000 // len(long_review) + 1))[:20_000])
    html = '<div class="review"><p><a href="https://example.com/x?y=1">' + "<br /><br />" * 50 + "Great</a></p></div>"
    texts = ["", "   \n\t ", html, long_review, "caf\ufffd \ufffd\ufffd", "!!! ??? ...", "zzqx qqzx xqzz"]
    probability = predictor.predict(texts)
    assert probability.shape == (len(texts),)
    assert np.isfinite(probability).all() and ((probability >= 0) & (probability <= 1)).all()
    # No words at all: only the start token is left, whatever the whitespace.
    assert probability[0] == pytest.approx(probability[1], abs=1e-6)
    # Unknown words all become the OOV id.
    assert list(predictor.encode(["zzqx qqzx xqzz"])[0]) == [data.START, data.OOV, data.OOV, data.OOV]
    assert len(predictor.encode([long_review])[0]) == 20_001


def test_predict_wants_a_list_of_str(predictor):
    with pytest.raises(TypeError):
        predictor.predict("a single string is a list of characters")
    with pytest.raises(TypeError):
        predictor.predict([b"bytes"])
    assert predictor.predict([]).shape == (0,)


# ----------------------------------------------------------------------------------------------
# Run dirs that cannot be used


def _break(kind: str, run: Path) -> str:
    """Spoil a copied run dir one way; return a word the error message must contain."""
    if kind == "no model.keras":
        (run / "model.keras").unlink()
        return "model.keras"
    if kind == "job still running":
        (run / "metrics.json").write_text('{"status": "running"}')
        return "running"
    if kind == "job failed":
        (run / "metrics.json").write_text('{"status": "failed", "error": "training diverged"}')
        return "training diverged"
    if kind == "no metrics.json":
        (run / "metrics.json").unlink()
        return "metrics.json"
    if kind == "model.keras not an archive":
        (run / "model.keras").write_bytes(b"\x80\x04 not a zip, and never unpickled")
        return "not a Keras model"
    if kind == "model.keras foreign zip":
        with zipfile.ZipFile(run / "model.keras", "w") as z:
            z.writestr("weights.txt", "nothing Keras can read")
        return "could not be loaded"
    if kind == "tokenizer of another format":
        spec = json.loads((run / "tokenizer.json").read_text(encoding="utf-8"))
        (run / "tokenizer.json").write_text(json.dumps({**spec, "format": "keras.preprocessing.text/1"}))
        return "format"
    if kind == "tokenizer not JSON":
        (run / "tokenizer.json").write_bytes(b"\xff\xfe{oops")
        return "JSON"
    if kind == "tokenizer words do not match vocab_size":
        spec = json.loads((run / "tokenizer.json").read_text(encoding="utf-8"))
        (run / "tokenizer.json").write_text(json.dumps({**spec, "words": spec["words"][:-1]}))
        return "vocab_size"
    if kind == "tokenizer from a bigger vocabulary":
        spec = json.loads((run / "tokenizer.json").read_text(encoding="utf-8"))
        extra = [f"word{i}" for i in range(10)]
        (run / "tokenizer.json").write_text(json.dumps({**spec, "words": spec["words"] + extra, "vocab_size": spec["vocab_size"] + 10}))
        return "different jobs"
    if kind == "tokenizer with a window of 0":
        spec = json.loads((run / "tokenizer.json").read_text(encoding="utf-8"))
        (run / "tokenizer.json").write_text(json.dumps({**spec, "window": 0}))
        return "window=0"
    if kind == "tokenizer combines windows in an unknown way":
        spec = json.loads((run / "tokenizer.json").read_text(encoding="utf-8"))
        (run / "tokenizer.json").write_text(json.dumps({**spec, "window": 40, "window_average": "median"}))
        return "window_average='median' is not one of log_odds, probability"
    if kind == "tokenizer keeps an unknown side":
        spec = json.loads((run / "tokenizer.json").read_text(encoding="utf-8"))
        (run / "tokenizer.json").write_text(json.dumps({**spec, "max_len": 100, "keep": "middle"}))
        return "first, last, both"
    raise AssertionError(kind)


BROKEN = [
    "no model.keras", "job still running", "job failed", "no metrics.json", "model.keras not an archive",
    "model.keras foreign zip", "tokenizer of another format", "tokenizer not JSON",
    "tokenizer words do not match vocab_size", "tokenizer from a bigger vocabulary", "tokenizer keeps an unknown side",
    "tokenizer with a window of 0", "tokenizer combines windows in an unknown way",
]


@pytest.mark.parametrize("kind", BROKEN)
def test_load_run_explains_unusable_run_dirs(quick_job, tmp_path, kind):
    run = _copy_run(quick_job, tmp_path / "run")
    must_say = _break(kind, run)
    with pytest.raises(UserError, match=must_say) as info:
        load_run(run)
    assert "\n" not in str(info.value)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras internals, saving
def test_models_are_loaded_in_safe_mode(quick_job, tmp_path):
    """A model.keras with a Lambda layer (marshalled Python bytecode) is refused, not run."""
    import keras

    run = _copy_run(quick_job, tmp_path / "run")
    token_ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(load_run(quick_job).vocab_size, 4)(token_ids)
    x = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=1))(x)
    keras.Model(token_ids, keras.layers.Dense(1, activation="sigmoid")(x)).save(run / "model.keras")
    with pytest.raises(UserError, match="(?i)lambda|safe"):
        load_run(run)


def test_load_run_of_a_missing_dir(tmp_path):
    with pytest.raises(UserError, match="not a directory"):
        load_run(tmp_path / "nowhere")


# ----------------------------------------------------------------------------------------------
# The command line


def test_cli_text_arguments_and_stdin(run_cli, quick_job, predictor):
    texts = ["An absolute masterpiece, moving and funny.", "Boring, badly acted, a waste of time.", ""]
    piped = ["Stdin review one: wonderful cast.", "Stdin review two: awful plot."]
    result = run_cli(quick_job, texts[0], "--batch-size", 2, *texts[1:], "-", stdin="\n".join([piped[0], "", piped[1]]) + "\n", module=MODULE)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    header, *rows = result.stdout.strip().splitlines()
    assert header.split()[:3] == ["label", "probability", "words"]
    assert len(rows) == 5
    expected = predictor.predict(texts + piped)
    sources = ["arg1", "arg2", "arg3", "stdin:1", "stdin:3"]  # the blank stdin line is skipped
    for row, p, source, text in zip(rows, expected, sources, texts + piped):
        label, probability, words, shown_source = row.split()[:4]
        assert float(probability) == pytest.approx(p, abs=1e-4)
        assert label == ("positive" if p > 0.5 else "negative")
        assert int(words) == len(data.tokenize(text)) and shown_source == source
    assert "no words" in result.stderr  # the empty argument is flagged


def test_cli_files_folders_and_csv_output(run_cli, quick_job, predictor, job_predictions, tmp_path):
    reviews = list(job_predictions["text"].iloc[:4])
    lines = tmp_path / "reviews.txt"
    lines.write_bytes("\n".join(reviews[:2]).encode() + b"\n\n" + b"not utf-8: \xff\xfe caf\xe9 great\r\n")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(reviews[2], encoding="utf-8")
    (folder / "sub" / "b.txt").write_bytes(b"\xef\xbb\xbf" + reviews[3].encode())  # with a BOM
    (folder / "empty.txt").write_bytes(b"")
    (folder / "ignored.md").write_text("not a review")
    out = tmp_path / "out" / "preds.csv"

    result = run_cli(quick_job, "--file", lines, "--file", folder, "--output", out, "--batch-size", 2, module=MODULE)
    assert result.returncode == 0, result.stderr
    assert "wrote 6 predictions" in result.stdout
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["source", "words", "truncated", "probability", "label", "preview"]
    assert list(table["source"]) == [
        f"{lines}:1", f"{lines}:2", f"{lines}:4", str(folder / "a.txt"), str(folder / "empty.txt"), str(folder / "sub" / "b.txt"),
    ]
    texts = [*reviews[:2], "not utf-8: \ufffd\ufffd caf\ufffd great", reviews[2], "", reviews[3]]
    np.testing.assert_allclose(table["probability"], predictor.predict(texts), atol=1e-5, rtol=0)
    assert list(table["words"]) == [len(data.tokenize(t)) for t in texts]
    assert (table["label"] == np.where(table["probability"] > 0.5, "positive", "negative")).all()
    assert not table["truncated"].any()  # the quick job has no max_len


def test_cli_reads_stdin_by_default_and_writes_csv_to_stdout(run_cli, quick_job, predictor):
    result = run_cli(quick_job, "--output", "-", stdin="A fine film.\nA dreadful film.", module=MODULE)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["source"] for r in rows] == ["stdin:1", "stdin:2"]
    expected = predictor.predict(["A fine film.", "A dreadful film."])
    np.testing.assert_allclose([float(r["probability"]) for r in rows], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["no model.keras", "job still running", "model.keras not an archive", "tokenizer of another format"])
def test_cli_unusable_run_dir_is_one_line(run_cli, quick_job, tmp_path, kind):
    """These are caught before TensorFlow loads, so each costs well under a second."""
    run = _copy_run(quick_job, tmp_path / "run")
    must_say = _break(kind, run)
    result = run_cli(run, "some review", module=MODULE)
    assert result.returncode == 1
    assert must_say in _error_line(result) and result.stdout == ""


def test_cli_unloadable_model_is_one_line(run_cli, quick_job, tmp_path):
    """A zip that is no Keras model is only found out by Keras: TensorFlow's start-up lines must not show."""
    run = _copy_run(quick_job, tmp_path / "run")
    must_say = _break("model.keras foreign zip", run)
    result = run_cli(run, "some review", module=MODULE)
    assert result.returncode == 1
    assert must_say in _error_line(result)


@pytest.mark.parametrize(
    "args, stdin, must_say",
    [
        (["{run}", "--file", "{tmp}/missing.txt"], None, "does not exist"),
        (["{run}", "--file", "{tmp}"], None, "without .txt files"),
        (["{run}"], "\n  \n", "no reviews"),
        (["{tmp}/not_a_run", "text"], None, "not a directory"),
    ],
)
def test_cli_bad_input_is_one_line(run_cli, quick_job, tmp_path, args, stdin, must_say):
    args = [a.format(run=quick_job, tmp=tmp_path) for a in args]
    result = run_cli(*args, stdin=stdin, module=MODULE)
    assert result.returncode == 1
    assert must_say in _error_line(result)


@pytest.mark.parametrize("args", [[], ["{run}", "--batch-size", "0", "text"], ["{run}", "--no-such-option"]])
def test_cli_usage_errors_exit_2(run_cli, quick_job, args):
    result = run_cli(*[a.format(run=quick_job) for a in args], module=MODULE)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(PREFIX)
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_adversarial_training_runs_a_whole_job_and_its_model_classifies_new_reviews(run_cli, tmp_path):
    """arch.adversarial through a job: the checkpoint validation chose loads back (its val_loss is the best
    epoch's), the refit trains the same way, and the predict tool loads the saved model."""
    result = run_cli(*TINY, "arch.adversarial=0.05", "train.refit=true", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["model"]["adversarial"] == 0.05
    assert metrics["val_loss"] == pytest.approx(pd.read_csv(tmp_path / "history.csv")["val_loss"].min(), abs=1e-5)
    assert metrics["refit"]["epochs"] >= 1
    predicted = run_cli(tmp_path, "a fine film", module="imdb_rnn.predict")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    row = predicted.stdout.strip().splitlines()[-1].split()  # label, probability, words, source, review
    assert row[0] in ("positive", "negative") and 0 <= float(row[1]) <= 1 and row[-3:] == ["a", "fine", "film"]


@pytest.mark.slow
def test_a_job_in_windows_learns_from_each_window_and_scores_reviews_by_their_mean(run_cli, tmp_path):
    """data.window through a job: training and early stopping see windows (one per 40 tokens or fewer),
    every score and file is per review (the mean of its windows' log-odds), and the predict tool reads new
    reviews in the same windows, combined the same way, so it reproduces the job's predictions; a
    tokenizer.json of the first windowed jobs (no window_average) is read as they combined windows.
    data.window_average=probability, refit from that job (the rule changes how reviews are read, not what
    was trained): the mean of the windows' probabilities, in the job's files and through the predict tool."""
    result = run_cli(*TINY, "data.window=40", "train.refit=true", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["window"] == 40 and max(metrics["padded_lengths"]) <= 40
    assert metrics["refit"]["n_reviews"] == metrics["n_train"] + metrics["n_val"] == 2000
    log = (tmp_path / "imdb_rnn.log").read_text()
    windows = int(log.split("data.window=40: ")[1].split(" train")[0])
    assert windows > 2 * metrics["n_train"]  # the sample's reviews average well over 80 tokens
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == metrics["n_test"]
    assert ((predictions["probability"] > 0.5) == predictions["label"]).mean() == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    texts = {f"{split}/{label}/{rid}": text for split, label, rid, text in data._iter_review_files(data.SAMPLE_PATH)}
    predictor = load_run(tmp_path)
    assert (predictor.window, predictor.window_average) == (40, "log_odds")
    reviews = [texts[r] for r in predictions["review_id"]]
    np.testing.assert_allclose(predictor.predict(reviews), predictions["probability"], atol=1e-4, rtol=0)
    spec = json.loads((tmp_path / "tokenizer.json").read_text())
    del spec["window_average"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    older = load_run(tmp_path)
    assert older.window_average == "probability"
    seqs = older.encode(reviews)
    pieces, owner = inputs.windows(inputs.truncate(seqs, older.max_len, older.keep), 40)
    each = inputs.predict_in_order(older.model, pieces, 32)
    np.testing.assert_allclose(older.predict_ids(seqs), np.bincount(owner, each) / np.bincount(owner), atol=1e-6)

    by_probability = tmp_path / "by_probability"
    result = run_cli(*TINY, "data.window=40", "data.window_average=probability", "train.refit=true",
                     f"train.refit_from={tmp_path}", f"hydra.run.dir={by_probability}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((by_probability / "tokenizer.json").read_text())["window_average"] == "probability"
    predictions = pd.read_csv(by_probability / "predictions.csv")
    assert list(predictions["review_id"]) == list(pd.read_csv(tmp_path / "predictions.csv")["review_id"])
    predictor = load_run(by_probability)
    pieces, owner = inputs.windows(inputs.truncate(predictor.encode(reviews), predictor.max_len, predictor.keep), 40)
    each = inputs.predict_in_order(predictor.model, pieces, 32)
    np.testing.assert_allclose(predictions["probability"], np.bincount(owner, each) / np.bincount(owner), atol=1e-4, rtol=0)
    np.testing.assert_allclose(predictor.predict(reviews), predictions["probability"], atol=1e-4, rtol=0)
