"""The model and its input batches: padding never changes what a model predicts for a review."""

import keras
import numpy as np
import pytest

from imdb_rnn import inputs
from imdb_rnn.models import build_model


def settings(cell, **kw):
    return {"cell": cell, "embedding_dim": 8, "units": 6, "dropout": 0.2, "num_layers": 1, "bidirectional": False,
            "head": "last", "learning_rate": 1e-3, "clipnorm": None, **kw}


REVIEWS = [np.random.default_rng(i).integers(1, 50, size=n).astype(np.int32) for i, n in enumerate([3, 40, 7, 400, 25, 900])]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(
    "variant", [{}, {"bidirectional": True}, {"num_layers": 2}, {"head": "mean"}, {"head": "max", "bidirectional": True}]
)
def test_prediction_alone_equals_prediction_in_a_padded_batch(cell, variant):
    keras.utils.set_random_seed(0)
    model = build_model(settings(cell, **variant), vocab_size=50)
    alone = np.array([model.predict(r[None, :], verbose=0)[0, 0] for r in REVIEWS])
    batched = inputs.predict_in_order(model, REVIEWS, batch_size=len(REVIEWS))  # padded to 900 tokens
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_training_batches_hold_similar_lengths_and_every_review_once():
    rng = np.random.default_rng(0)
    reviews = [rng.integers(1, 50, size=n).astype(np.int32) for n in rng.integers(5, 2000, size=500)]
    labels = np.arange(500) % 2
    seen, waste = [], []
    for x, y in inputs.train_batches(reviews, labels, batch_size=32, seed=1):
        lengths = (x.numpy() != 0).sum(axis=1)
        waste.append(1 - lengths.sum() / x.numpy().size)
        seen += sorted(lengths.tolist())
    assert sorted(seen) == sorted(len(r) for r in reviews)
    assert np.mean(waste) < 0.25  # padding to the batch's own longest review, grouped by length


def test_truncation_keeps_the_chosen_end():
    review = np.arange(1, 11, dtype=np.int32)
    assert list(inputs.truncate([review], 4, "first")[0]) == [1, 2, 3, 4]
    assert list(inputs.truncate([review], 4, "last")[0]) == [7, 8, 9, 10]
    assert inputs.truncate([review], None, "last")[0] is review
