"""The model and its input batches: padding never changes what a model predicts for a review."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from imdb_rnn import checks, inputs, models
from imdb_rnn.models import build_model, ema_callbacks


def settings(cell, **kw):
    return {"cell": cell, "embedding_dim": 8, "units": 6, "dropout": 0.2, "num_layers": 1, "bidirectional": False,
            "head": "last", "learning_rate": 1e-3, "clipnorm": None, **kw}


REVIEWS = [np.random.default_rng(i).integers(1, 50, size=n).astype(np.int32) for i, n in enumerate([3, 40, 7, 400, 25, 900])]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(
    "variant",
    [{}, {"bidirectional": True}, {"num_layers": 2}, {"head": "mean"}, {"head": "max", "bidirectional": True}, {"head": "attention"},
     {"embedding_dropout": 0.3}, {"word_dropout": 0.3}, {"recurrent_dropout": 0.3, "num_layers": 2}],
)
def test_prediction_alone_equals_prediction_in_a_padded_batch(cell, variant):
    keras.utils.set_random_seed(0)
    model = build_model(settings(cell, **variant), vocab_size=50)
    alone = np.array([model.predict(r[None, :], verbose=0)[0, 0] for r in REVIEWS])
    batched = inputs.predict_in_order(model, REVIEWS, batch_size=len(REVIEWS))  # padded to 900 tokens
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_the_settings_checks_name_every_cell_and_head_the_model_builds():
    assert sorted(checks.CELLS) == sorted(models.CELLS)
    for head in checks.HEADS:  # a head build_model did not know would leave one output per step
        assert build_model(settings("gru", head=head), vocab_size=50).output_shape == (None, 1)
    assert build_model(settings("gru", head="unknown"), vocab_size=50).output_shape == (None, None, 1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_xla_compiled_model_predicts_the_same_in_fixed_length_batches(cell):
    keras.utils.set_random_seed(0)
    plain = build_model(settings(cell), vocab_size=50)
    compiled = build_model(settings(cell), vocab_size=50, jit_compile=True)
    compiled.set_weights(plain.get_weights())
    alone = np.array([plain.predict(r[None, :], verbose=0)[0, 0] for r in REVIEWS])
    batched = inputs.predict_in_order(compiled, REVIEWS, batch_size=4, pad_to=[50, 1000])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def padded_tokens(pad_to, lengths):
    return int(np.array(pad_to)[np.searchsorted(pad_to, lengths)].sum())


def test_padded_lengths_weigh_padding_against_compilations():
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(5.5, 0.6, 5000), 10, 2494).astype(int)
    chosen = {cost: inputs.padded_lengths(lengths, cost, longest=2600) for cost in (0, 1e4, 1e5, 1e6, 1e9)}
    for cost, pad_to in chosen.items():
        assert pad_to[-1] == 2600 and len(pad_to) <= inputs.MAX_PADDED_LENGTHS and pad_to == sorted(set(pad_to))
        assert set(pad_to) <= set(lengths) | {2600}
    counts = [len(chosen[c]) for c in sorted(chosen)]
    assert counts == sorted(counts, reverse=True) and counts[0] == inputs.MAX_PADDED_LENGTHS and counts[-1] == 1
    # Exact: no set of one or two lengths does better on padded tokens + shape_cost * shapes.
    small = rng.integers(20, 200, 300)
    for cost in (0, 300, 1000, 3000, 30000):
        pad_to = inputs.padded_lengths(small, cost, longest=200)
        objective = padded_tokens(pad_to, small) + cost * len(pad_to)
        candidates = [[200]] + [[a, 200] for a in sorted(set(small.tolist())) if a < 200]
        assert objective <= min(padded_tokens(c, small) + cost * len(c) for c in candidates)
    assert inputs.padded_lengths(np.full(30, 7), 0) == [7]  # one length: no padding at all
    # A narrow bucket gets one shape at the default cost, a wide one several.
    assert len(inputs.padded_lengths(rng.integers(130, 176, 4800), 1e5)) == 1
    assert len(inputs.padded_lengths(np.clip(rng.lognormal(6.7, 0.4, 1000), 598, 2494).astype(int), 1e5, 2494)) >= 3


def test_training_batches_have_one_shape_per_padded_length_and_every_review():
    rng = np.random.default_rng(0)
    reviews = [rng.integers(1, 50, size=n).astype(np.int32) for n in rng.integers(5, 2000, size=500)]
    labels = np.arange(500) % 2
    pad_to = inputs.padded_lengths([len(r) for r in reviews], 0)
    ds = inputs.train_batches(reviews, labels, batch_size=32, seed=1, pad_to=pad_to)
    epochs = [[(x.numpy(), y.numpy()) for x, y in ds] for _ in range(2)]
    for batches in epochs:
        seen = [tuple(row[row != 0]) for x, _ in batches for row in x]
        assert set(seen) == {tuple(r) for r in reviews}  # every review, 500 -> 512: 12 of them twice
        assert len(seen) == 512 and len(set(seen)) == 500
        assert {x.shape for x, _ in batches} <= {(32, n) for n in pad_to}  # full batches: one shape per length
    assert len({x.shape for batches in epochs for x, _ in batches}) <= len(pad_to)
    assert not np.array_equal(epochs[0][0][0], epochs[1][0][0])  # reshuffled every epoch


def test_training_batches_without_fixed_lengths_hold_similar_lengths():
    rng = np.random.default_rng(0)
    reviews = [rng.integers(1, 50, size=n).astype(np.int32) for n in rng.integers(5, 2000, size=500)]
    waste = [1 - (x.numpy() != 0).sum() / x.numpy().size for x, _ in inputs.train_batches(reviews, np.arange(500) % 2, 32, seed=1)]
    assert np.mean(waste) < 0.15  # each batch padded to its own longest review, grouped by length (random batches: ~0.5)


def test_truncation_keeps_the_chosen_end():
    review = np.arange(1, 11, dtype=np.int32)
    assert list(inputs.truncate([review], 4, "first")[0]) == [1, 2, 3, 4]
    assert list(inputs.truncate([review], 4, "last")[0]) == [7, 8, 9, 10]
    assert list(inputs.truncate([review], 5, "both")[0]) == [1, 2, 3, 9, 10]  # the middle cut out
    assert list(inputs.truncate([review[:5]], 5, "both")[0]) == [1, 2, 3, 4, 5]  # short enough: untouched
    assert inputs.truncate([review], None, "last")[0] is review


def test_windows_cut_reviews_into_near_equal_pieces_and_predictions_average_them():
    pieces, owner = inputs.windows(REVIEWS, 100)
    # 3, 40, 7, 25 tokens: one window each; 400 tokens: 4 of 100; 900: 9 of 100
    assert list(owner) == [0, 1, 2, *[3] * 4, 4, *[5] * 9]
    assert [len(p) for p in pieces[4:7]] == [100, 100, 100]
    for i, review in enumerate(REVIEWS):  # in order, nothing lost or repeated
        np.testing.assert_array_equal(np.concatenate([p for p, o in zip(pieces, owner) if o == i]), review)
    # ceil(length / size) windows of near-equal length: 401 tokens in 150s are 3 windows of 133-134, not 150 + 150 + 101
    assert [len(p) for p in inputs.windows([np.arange(1, 402)], 150)[0]] == [134, 134, 133]
    assert inputs.windows(REVIEWS, None)[0] == REVIEWS

    keras.utils.set_random_seed(0)
    model = build_model(settings("gru"), vocab_size=50)
    each = inputs.predict_in_order(model, pieces, batch_size=4).astype(np.float64)
    windowed = inputs.predict_in_order(model, REVIEWS, batch_size=4, window=100)
    log_odds = np.log(each / (1 - each))
    expected = [1 / (1 + np.exp(-log_odds[owner == i].mean())) for i in range(len(REVIEWS))]  # the mean log-odds
    np.testing.assert_allclose(windowed, expected, atol=1e-6)
    assert windowed[3] != pytest.approx(inputs.predict_in_order(model, REVIEWS[3:4], batch_size=1)[0], abs=1e-4)
    # the first windowed jobs' rule, the mean probability, is another number where windows disagree
    by_probability = inputs.predict_in_order(model, REVIEWS, batch_size=4, window=100, average="probability")
    np.testing.assert_allclose(by_probability, [each[owner == i].mean() for i in range(len(REVIEWS))], atol=1e-6)
    np.testing.assert_allclose(by_probability[[0, 1, 2, 4]], windowed[[0, 1, 2, 4]], atol=1e-6)  # one window each
    # a window the model is sure of: log-odds stay finite, and it outweighs an unsure one
    sure = inputs.predict_in_order(_Fixed([1.0, 0.4]), [np.arange(1, 11)], batch_size=2, window=5)
    assert 0.5 < sure[0] < 1 and np.isfinite(sure).all()


class _Fixed:
    """A stand-in model that gives the i-th review of a batch the i-th of `probabilities`."""

    def __init__(self, probabilities):
        self.probabilities = np.asarray(probabilities, np.float32)

    def predict(self, batches, verbose=0):
        return np.concatenate([self.probabilities[: len(x)][:, None] for x in batches])


def test_attention_head_survives_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(settings("gru", head="attention", bidirectional=True), vocab_size=50)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = REVIEWS[1][None, :]
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_word_dropout_drops_whole_words_in_training_only():
    """arch.word_dropout: in training each word's vector is dropped whole (all zeros) or kept whole
    (scaled by 1 / (1 - rate)); at inference every word is kept."""
    keras.utils.set_random_seed(0)
    model = build_model(settings("gru", word_dropout=0.5), vocab_size=50)
    embed, drop = model.get_layer(index=1), model.get_layer("word_dropout")
    vectors = embed(np.stack([REVIEWS[3][:100], REVIEWS[5][:100]]))
    dropped = np.asarray(drop(vectors, training=True))
    zeroed = np.all(dropped == 0, axis=-1)
    np.testing.assert_allclose(dropped[~zeroed], 2 * np.asarray(vectors)[~zeroed], rtol=1e-6)
    assert 0.35 < zeroed.mean() < 0.65  # about half the 200 words
    np.testing.assert_array_equal(np.asarray(drop(vectors, training=False)), np.asarray(vectors))


@pytest.mark.parametrize("swap", [True, False])
def test_weight_averaging_is_what_validation_sees_and_what_training_leaves(swap):
    """arch.ema_momentum: with ema_callbacks the last epoch's val_loss is that of the weights the model ends
    with (the average); without them validation scores the raw weights, which differ."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(256, 20)).astype("int32")
    y = (x[:, 0] > 25).astype("float32")
    ema = settings("gru", ema_momentum=0.9)
    keras.utils.set_random_seed(0)
    model = build_model(ema, vocab_size=50)
    history = model.fit(x[:192], y[:192], validation_data=(x[192:], y[192:]), epochs=2, batch_size=16, verbose=0,
                        callbacks=ema_callbacks(ema) if swap else [])
    final = model.evaluate(x[192:], y[192:], batch_size=16, verbose=0)[0]
    assert (final == pytest.approx(history.history["val_loss"][-1], abs=1e-6)) == swap
    assert ema_callbacks(settings("gru", ema_momentum=None)) == []


def test_adversarial_push_raises_the_loss_by_its_chosen_size():
    """arch.adversarial: each review's push is along its own loss gradient, `size` times the norm of its
    word vectors (padding in neither), and it raises the loss more than a push of that size at random."""
    keras.utils.set_random_seed(0)
    model = build_model(settings("gru", adversarial=0.1, head="max"), vocab_size=50)
    embedding, body = model.get_layer("embedding"), model.get_layer("body")
    x = np.zeros((4, 30), dtype="int32")
    for i, n in enumerate([30, 12, 5, 20]):
        x[i, :n] = REVIEWS[3][:n]
    y = np.array([[1.0], [0.0], [1.0], [0.0]], dtype="float32")
    vectors, mask = embedding(x), embedding.compute_mask(x)

    def loss(v):
        return keras.losses.binary_crossentropy(y, body(v, mask=mask))  # one loss per review

    with tf.GradientTape() as tape:
        tape.watch(vectors)
        total = keras.ops.mean(loss(vectors))
    push = np.asarray(models.adversarial_push(vectors, tape.gradient(total, vectors), mask, 0.1))
    kept = np.asarray(mask)[..., None]
    assert np.all(push[~np.asarray(mask)] == 0)
    np.testing.assert_allclose(np.linalg.norm(push, axis=(1, 2)), 0.1 * np.linalg.norm(np.asarray(vectors) * kept, axis=(1, 2)), rtol=1e-4)
    noise = np.random.default_rng(0).normal(size=push.shape).astype("float32") * kept
    noise *= np.linalg.norm(push, axis=(1, 2), keepdims=True) / np.linalg.norm(noise, axis=(1, 2), keepdims=True)
    clean, pushed, random = (np.asarray(loss(vectors + d)) for d in (0.0, push, noise))
    assert np.all(pushed > clean) and np.all(pushed - clean > np.abs(random - clean))


def test_adversarial_training_learns_saves_and_predicts_like_any_model(tmp_path):
    """An arch.adversarial model trains (on a task a plain one learns too), its reported loss is the clean
    batch's, it predicts a review alone as in a padded batch, and it loads back with its setting."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(512, 20)).astype("int32")
    x[::2, 12:] = 0  # half the reviews padded
    y = (x[:, 0] > 25).astype("float32")
    adversarial = settings("gru", adversarial=0.05, head="max", learning_rate=1e-2, ema_momentum=0.9, word_dropout=0.1)
    keras.utils.set_random_seed(0)
    model = build_model(adversarial, vocab_size=50, jit_compile=True)
    history = model.fit(x[:384], y[:384], validation_data=(x[384:], y[384:]), epochs=8, batch_size=32, verbose=0,
                        callbacks=ema_callbacks(adversarial))
    assert history.history["val_accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    alone = np.array([model.predict(r[None, :], verbose=0)[0, 0] for r in REVIEWS])
    np.testing.assert_allclose(inputs.predict_in_order(model, REVIEWS, batch_size=len(REVIEWS)), alone, atol=1e-5)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(again, models.AdversarialClassifier) and again.adversarial == 0.05
    np.testing.assert_allclose(again.predict(x[:16], verbose=0), model.predict(x[:16], verbose=0), atol=1e-6)


def test_the_virtual_adversarial_push_changes_the_prediction_more_than_a_random_one():
    """arch.virtual_adversarial: from a random start, one power iteration finds a push (of the chosen size,
    padding left out) that moves the model's probabilities further than a random push of that size does."""
    keras.utils.set_random_seed(0)
    model = build_model(settings("gru", virtual_adversarial=0.2, head="max", dropout=0.0), vocab_size=50)
    model.optimizer.build(model.trainable_weights)  # the push's random start is drawn from its step count
    embedding, body = model.get_layer("embedding"), model.get_layer("body")
    x = np.zeros((4, 30), dtype="int32")
    for i, n in enumerate([30, 12, 5, 20]):
        x[i, :n] = REVIEWS[3][:n]
    vectors, mask = embedding(x), embedding.compute_mask(x)
    target = body(vectors, mask=mask)
    pushed = float(model.virtual_adversarial_loss(body, vectors, mask))
    kept = np.asarray(mask)[..., None]
    rng, norms = np.random.default_rng(0), np.linalg.norm(np.asarray(vectors) * kept, axis=(1, 2), keepdims=True)
    randoms = []
    for _ in range(20):
        noise = rng.normal(size=vectors.shape).astype("float32") * kept
        noise *= 0.2 * norms / np.linalg.norm(noise, axis=(1, 2), keepdims=True)
        randoms.append(float(models.binary_kl(target, body(vectors + noise, mask=mask))))
    assert pushed > 0 and pushed > 2 * max(randoms)


def test_virtual_adversarial_training_learns_reproducibly_and_loads_back(tmp_path):
    """A model with arch.virtual_adversarial (and arch.adversarial) trains under XLA, the same seed gives the same
    training losses (the push's random start comes from the step count, not from a generator XLA would reseed),
    and it loads back with both settings."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(512, 20)).astype("int32")
    x[::2, 12:] = 0
    y = (x[:, 0] > 25).astype("float32")
    both = settings("gru", adversarial=0.025, virtual_adversarial=0.1, head="max", learning_rate=1e-2)

    def train():
        keras.utils.set_random_seed(0)
        model = build_model(both, vocab_size=50, jit_compile=True)
        history = model.fit(x[:384], y[:384], validation_data=(x[384:], y[384:]), epochs=6, batch_size=32, verbose=0)
        return model, history.history

    model, history = train()
    assert history["val_accuracy"][-1] > 0.9
    _, again_history = train()
    assert again_history["loss"] == history["loss"]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert (loaded.adversarial, loaded.virtual_adversarial) == (0.025, 0.1)
    np.testing.assert_allclose(loaded.predict(x[:16], verbose=0), model.predict(x[:16], verbose=0), atol=1e-6)
