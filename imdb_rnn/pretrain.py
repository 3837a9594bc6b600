"""pretrain=lm: word vectors learned first, without labels, by a language model on other reviews' text.

A bucket's labelled reviews are few (0_129: 4,934 to learn from), so a word seen in a handful of
them gets a vector learned from a handful of labels. What words mean can be learned from text alone: a
language model reads the text of the training reviews *outside* the job's bucket (never one of the
bucket's training, validation or test reviews, and no label), a forward GRU predicting each next word
and a backward GRU each previous one (among the `predict_words` most frequent words, the rest as one
class "another word"). The classifier's embedding starts from the language model's; the layers after it
start from random, as without (starting them from the language model's GRUs measured worse, README
"Word vectors from a language model").

One language model per text, vocabulary and settings, cached in data.cache_dir: the jobs of a sweep share
it, and a job that finds another one training it waits for it.
"""

import fcntl
import hashlib
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from imdb_rnn import UserError, artifacts, data

log = logging.getLogger(__name__)

HELD_OUT_EVERY = 50  # every 50th chunk of text is held out, to report how well the language model predicts


def word_vectors(cfg, corpus: data.Corpus, bucket, vocab_size: int, embedding_dim: int) -> tuple[np.ndarray, dict]:
    """(vectors, record): the (vocab_size, embedding_dim) embedding the classifier starts from, and what
    metrics.json says about the language model that learned it."""
    settings = {k: v for k, v in dict(cfg.pretrain).items() if k != "name"}
    text, n_reviews = language_model_text(corpus.train, bucket, vocab_size)
    if len(text) // settings["chunk"] < 2:
        raise UserError(f"pretrain=lm: the training reviews outside bucket {bucket.name} hold {len(text)} tokens, too few "
                        f"for a language model (at least 2 x pretrain.chunk={settings['chunk']}); use pretrain=none")
    recipe = json.dumps({**settings, "vocab_size": vocab_size, "embedding_dim": embedding_dim}, sort_keys=True)
    key = hashlib.sha256(text.tobytes() + recipe.encode()).hexdigest()[:16]
    folder = Path(os.path.expanduser(cfg.data.cache_dir)) / "pretrain"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lm-{key}.npz"
    with _exclusive(folder / f"lm-{key}.lock"):  # two jobs of a sweep: one trains, the other waits and reads
        cached = path.exists()
        if cached:
            log.info("pretrain=lm: word vectors from %s", path)
            with np.load(path) as saved:
                vectors, stats = saved["vectors"], json.loads(str(saved["stats"]))
        else:
            log.info("pretrain=lm: a language model on %d training reviews outside bucket %s (%d tokens)",
                     n_reviews, bucket.name, len(text))
            vectors, stats = train_language_model(text, vocab_size, embedding_dim, settings)
            stats = {"reviews": n_reviews, **stats}
            artifacts.write_npz(path, {"vectors": vectors, "stats": json.dumps(stats)})  # whole or absent
    return vectors, {"name": "lm", **stats, "cached": cached, "file": str(path)}


def language_model_text(train: data.Split, bucket, vocab_size: int) -> tuple[np.ndarray, int]:
    """The training reviews outside the bucket, end to end as one stream of ids (each starts with START,
    which marks where a review begins), words outside the vocabulary as OOV; and how many reviews."""
    outside = train.subset(~bucket.contains(train.lengths))
    return np.where(outside.tokens < vocab_size, outside.tokens, data.OOV).astype(np.int32), len(outside)


def train_language_model(text: np.ndarray, vocab_size: int, embedding_dim: int, settings: dict) -> tuple[np.ndarray, dict]:
    """Train the two-way language model on `text`; return its embedding and its held-out losses."""
    started = time.perf_counter()
    keras.utils.set_random_seed(settings["seed"])
    chunk, n_out = settings["chunk"], settings["predict_words"]
    n = (len(text) - 1) // chunk
    tokens = text[: n * chunk].reshape(n, chunk)
    following = _target(text[1 : n * chunk + 1].reshape(n, chunk), n_out)
    preceding = _target(np.concatenate([[data.START], text[: n * chunk - 1]]).reshape(n, chunk), n_out)[:, ::-1]
    held = np.arange(n) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 if n >= HELD_OUT_EVERY else np.arange(n) == n - 1

    def batches(rows, shuffle):
        ds = tf.data.Dataset.from_tensor_slices((tokens[rows], (following[rows], preceding[rows])))
        if shuffle:
            ds = ds.shuffle(len(ds), seed=settings["seed"])
        return ds.batch(settings["batch_size"])

    model = language_model(vocab_size, embedding_dim, settings)
    history = model.fit(batches(~held, True), validation_data=batches(held, False), epochs=settings["epochs"], verbose=0,
                        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch)])
    share = np.bincount(following[held].ravel(), minlength=n_out + 1) / following[held].size
    stats = {
        "tokens": len(text),
        # nats per word, on the held-out chunks; "unigram" is what word frequencies alone would score
        "held_out_loss_next": round(float(history.history["val_next_loss"][-1]), 4),
        "held_out_loss_previous": round(float(history.history["val_previous_loss"][-1]), 4),
        "held_out_loss_unigram": round(float(-(share[share > 0] * np.log(share[share > 0])).sum()), 4),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    log.info("pretrain=lm: done in %.0f s, held-out loss %.3f next / %.3f previous word (word frequencies alone: %.3f)",
             stats["wall_s"], stats["held_out_loss_next"], stats["held_out_loss_previous"], stats["held_out_loss_unigram"])
    vectors = model.get_layer("embedding").get_weights()[0]
    keras.backend.clear_session()
    return vectors, stats


def language_model(vocab_size: int, embedding_dim: int, settings: dict) -> keras.Model:
    """Embedding -> a forward GRU predicting each next word, and a GRU over the reversed chunk predicting
    each previous word (its outputs in reversed order, as its targets are)."""
    ids = keras.Input(shape=(settings["chunk"],), dtype="int32")
    vectors = layers.Dropout(settings["dropout"])(layers.Embedding(vocab_size, embedding_dim, name="embedding")(ids))
    reversed_vectors = layers.Lambda(lambda t: tf.reverse(t, axis=[1]))(vectors)
    outputs = []
    for name, seq in (("next", vectors), ("previous", reversed_vectors)):
        states = layers.GRU(settings["units"], return_sequences=True)(seq)
        outputs.append(layers.Dense(settings["predict_words"] + 1, name=name)(layers.Dropout(settings["dropout"])(states)))
    model = keras.Model(ids, outputs, name="language_model")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(settings["learning_rate"], clipnorm=1.0), loss=[loss, loss], jit_compile=True)
    return model


def _target(ids: np.ndarray, n_out: int) -> np.ndarray:
    """Word ids -> classes: the n_out most frequent words 0 .. n_out - 1, anything else n_out."""
    known = (ids >= data.FIRST_WORD_ID) & (ids < data.FIRST_WORD_ID + n_out)
    return np.where(known, ids - data.FIRST_WORD_ID, n_out).astype(np.int32)


def _log_epoch(epoch, logs):
    log.info("pretrain=lm epoch %d: loss %.3f next / %.3f previous word, held out %.3f / %.3f", epoch + 1,
             logs["next_loss"], logs["previous_loss"], logs["val_next_loss"], logs["val_previous_loss"])


@contextmanager
def _exclusive(lock_file: Path):
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
