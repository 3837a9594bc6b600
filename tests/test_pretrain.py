"""pretrain=lm: the language model reads only text outside the bucket, learns word order, and its word
vectors start the classifier's embedding, trained once and then read from the cache."""

import json

import keras
import numpy as np
import pytest
from conftest import TINY
from omegaconf import OmegaConf
from test_job import assert_one_line_failure

from imdb_rnn import buckets, data, pretrain
from imdb_rnn.models import build_model

LM = ["pretrain=lm", "pretrain.epochs=1", "pretrain.units=8", "pretrain.predict_words=50", "pretrain.chunk=32", "pretrain.batch_size=256"]
LM_SETTINGS = {"epochs": 3, "units": 16, "predict_words": 20, "chunk": 16, "batch_size": 8, "learning_rate": 0.01,
               "dropout": 0.0, "seed": 0}


def test_the_language_model_reads_the_training_reviews_outside_the_bucket_and_nothing_else(cache_dir):
    corpus = data.load(OmegaConf.create({"source": "sample", "path": None, "cache_dir": str(cache_dir)}))
    bucket = buckets.resolve(OmegaConf.create({"scheme": "fixed", "name": "0_129", "min_len": 0, "max_len": 129}),
                             corpus.train.lengths)
    outside = ~bucket.contains(corpus.train.lengths)
    assert 0 < outside.sum() < len(corpus.train)
    text, n_reviews = pretrain.language_model_text(corpus.train, bucket, vocab_size=1000)
    assert n_reviews == outside.sum()
    assert len(text) == corpus.train.lengths[outside].sum()  # every token of those reviews, no test or bucket review
    assert (text == data.START).sum() == n_reviews and text[0] == data.START  # reviews end to end, each marked
    assert text.max() < 1000 and (text == data.OOV).any()  # words outside the vocabulary read as OOV


@pytest.mark.slow
def test_the_language_model_learns_word_order():
    """On a text whose next word follows from the last (a repeated sequence of 10 words), the held-out
    loss falls far below what word frequencies alone score, in both directions."""
    text = np.tile(np.arange(data.FIRST_WORD_ID, data.FIRST_WORD_ID + 10, dtype=np.int32), 300)
    vectors, stats = pretrain.train_language_model(text, vocab_size=20, embedding_dim=8, settings=LM_SETTINGS)
    assert vectors.shape == (20, 8)
    assert stats["held_out_loss_unigram"] > 2.0  # ten equally frequent words: log(10) = 2.3
    assert stats["held_out_loss_next"] < 0.5 and stats["held_out_loss_previous"] < 0.5


def test_the_classifier_starts_its_embedding_from_the_word_vectors():
    settings = {"cell": "gru", "embedding_dim": 8, "units": 6, "dropout": 0.2, "num_layers": 1, "bidirectional": True,
                "head": "max", "learning_rate": 1e-3, "clipnorm": None}
    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    for extra in ({}, {"adversarial": 0.025}):  # the plain model, and the one whose body is a model of its own
        model = build_model({**settings, **extra}, vocab_size=50, word_vectors=vectors)
        np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], vectors)
    keras.utils.set_random_seed(0)
    random_start = build_model(settings, vocab_size=50).get_layer("embedding").get_weights()[0]
    assert np.abs(random_start).max() <= 0.05  # Keras' own start, for contrast


@pytest.mark.slow
def test_a_job_trains_the_language_model_once_and_the_next_reads_it_alike(run_cli, tmp_path):
    """The second job of the same settings reads the cached word vectors and ends exactly as the first,
    which trained them: the language model leaves the job's own seeded randomness as it found it."""
    first = run_cli(*TINY, "bucket=0_129", *LM, f"hydra.run.dir={tmp_path / 'first'}")
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli(*TINY, "bucket=0_129", *LM, f"hydra.run.dir={tmp_path / 'second'}")
    assert second.returncode == 0, second.stderr[-3000:]
    a, b = (json.loads((tmp_path / job / "metrics.json").read_text()) for job in ("first", "second"))
    assert a["pretrain"]["cached"] is False and b["pretrain"]["cached"] is True
    assert a["pretrain"]["file"] == b["pretrain"]["file"] and a["pretrain"]["tokens"] > 0
    assert a["pretrain_wall_s"] > b["pretrain_wall_s"]
    assert (a["val_loss"], a["test_accuracy"]) == (b["val_loss"], b["test_accuracy"])
    plain = run_cli(*TINY, "bucket=0_129", f"hydra.run.dir={tmp_path / 'plain'}")
    assert plain.returncode == 0, plain.stderr[-3000:]
    c = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert c["pretrain"] is None and c["val_loss"] != a["val_loss"]


@pytest.mark.slow
def test_settings_pretraining_cannot_serve_fail_in_one_line(run_cli, tmp_path):
    cases = [
        ([*LM, "pretrain.epochs=0"], ["pretrain.epochs=0", "positive integer"]),
        ([*LM, "data.train_scope=all"], ["data.train_scope=all", "pretrain=none"]),
        ([*LM, "tuner=random"], ["embedding_dim", "~tuner.search_space.embedding_dim"]),
        (["pretrain.name=lm"], ["pretrain.name=lm", "pretrain=lm"]),
        ([*LM, "bucket=all"], ["outside bucket all", "too few", "pretrain=none"]),  # found once the data is read
    ]
    for overrides, fragments in cases:
        job = tmp_path / overrides[-1].replace("=", "-").replace("~", "")
        result = run_cli(*TINY, *overrides, f"hydra.run.dir={job}")
        assert_one_line_failure(result, *fragments)
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["status"] == "failed" and not (job / "model.keras").exists()
