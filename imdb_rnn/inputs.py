"""Token-id sequences -> tf.data batches, each padded only to its own longest review.

Training batches group reviews of similar length (tf.data's bucket_by_sequence_length over a shuffled
stream), so little time goes into padding; evaluation batches run in length order.
"""

import numpy as np
import tensorflow as tf

N_LENGTH_GROUPS = 8  # length groups for training batches


def truncate(seqs: list[np.ndarray], max_len: int | None, keep: str) -> list[np.ndarray]:
    """Cap reviews at max_len tokens, keeping their `first` or `last` tokens."""
    if not max_len:
        return seqs
    return [s[:max_len] if keep == "first" else s[-max_len:] for s in seqs]


def _examples(seqs: list[np.ndarray], labels) -> tf.data.Dataset:
    """(token ids, label) pairs, sliced out of one flat tensor instead of 25,000 small ones."""
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    values = tf.constant(np.concatenate(seqs).astype(np.int32) if seqs else np.zeros(0, np.int32))
    ds = tf.data.Dataset.from_tensor_slices((offsets[:-1], offsets[1:], np.asarray(labels, np.float32)))
    return ds.map(lambda start, end, label: (values[start:end], label))


def train_batches(seqs, labels, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled every epoch (seeded), batched by similar length."""
    lengths = np.array([len(s) for s in seqs])
    boundaries = sorted({int(b) + 1 for b in np.quantile(lengths, np.arange(1, N_LENGTH_GROUPS) / N_LENGTH_GROUPS)})
    ds = _examples(seqs, labels).shuffle(len(seqs), seed=seed, reshuffle_each_iteration=True)
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda x, y: tf.shape(x)[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_batches(seqs, labels, batch_size: int) -> tuple[tf.data.Dataset, np.ndarray]:
    """Batches in length order, and that order (so predictions can be put back in input order)."""
    order = np.argsort([len(s) for s in seqs], kind="stable")
    ds = _examples([seqs[i] for i in order], np.asarray(labels)[order])
    return ds.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE), order


def predict_in_order(model, seqs, batch_size: int) -> np.ndarray:
    """P(positive) for each review, in the order given."""
    ds, order = eval_batches(seqs, np.zeros(len(seqs)), batch_size)
    probs = model.predict(ds.map(lambda x, y: x), verbose=0)[:, 0]
    out = np.empty_like(probs)
    out[order] = probs
    return out
