"""Token-id sequences -> tf.data batches of reviews of similar length, padded to a few fixed lengths.

Why fixed lengths: models are XLA-compiled (train.jit_compile), and XLA compiles once per batch shape,
for every model a search builds. `padded_lengths` weighs padding against compilations: one length for a
narrow bucket, several for a wide one. Padding is masked in the model, so it never changes a review's
prediction.
"""

import numpy as np
import tensorflow as tf

from imdb_rnn.data import WINDOW_AVERAGES

MAX_PADDED_LENGTHS = 8  # at most this many batch shapes (each one an XLA compilation per model)
KEEP = -2  # in padded_lengths: one more length did not help this group, it stays as with one fewer


def truncate(seqs: list[np.ndarray], max_len: int | None, keep: str) -> list[np.ndarray]:
    """Cap reviews at max_len tokens, keeping their `first` or `last` tokens, or `both` ends: the first
    half (rounded up) and the last half, as if the middle were cut out."""
    if not max_len:
        return seqs
    if keep == "both":
        head, tail = (max_len + 1) // 2, max_len // 2
        return [s if len(s) <= max_len else np.concatenate([s[:head], s[len(s) - tail:]]) for s in seqs]
    return [s[:max_len] if keep == "first" else s[-max_len:] for s in seqs]


def windows(seqs: list[np.ndarray], size: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """data.window: each review cut into ceil(length / size) consecutive windows of near-equal length (so
    none is much shorter than the others), and for each window the index of its review. Without a size,
    the reviews themselves."""
    if not size:
        return list(seqs), np.arange(len(seqs))
    parts = [np.array_split(s, max(1, -(-len(s) // size))) for s in seqs]
    owner = np.repeat(np.arange(len(seqs)), [len(p) for p in parts])
    return [w for p in parts for w in p], owner


def padded_lengths(lengths, shape_cost: float, longest: int | None = None) -> list[int]:
    """The lengths to pad batches to: each a review length, the last one `longest`, at most
    MAX_PADDED_LENGTHS of them. Each length is one more batch shape for XLA to compile, worth it only
    if it saves at least `shape_cost` padded tokens per epoch; so the count k minimizes
    padded tokens(k) + k * shape_cost, where padded tokens(k) is the fewest any k lengths give
    (exact: dynamic programming over the distinct lengths).
    """
    lengths = np.asarray(lengths)
    longest = int(max(longest or 0, lengths.max()))
    values, counts = np.unique(np.append(lengths, longest), return_counts=True)
    counts[-1] -= 1  # `longest` is a boundary, not a review
    up_to = np.cumsum(counts)  # reviews no longer than values[j]
    # best[j]: fewest padded tokens for the reviews up to values[j] with k lengths, the top one values[j]
    best = up_to * values.astype(float)
    cut = [np.full(len(values), -1)]  # cut[k][j]: where the group ending at values[j] starts (-1: at the shortest)
    totals = [best[-1]]  # fewest padded tokens with 1, 2, ... lengths
    for _ in range(2, MAX_PADDED_LENGTHS + 1):
        # group i+1..j padded to values[j], after the best split ending at values[i]
        cost = best[:, None] + (up_to[None, :] - up_to[:, None]) * values[None, :].astype(float)
        cost[np.tril_indices(len(values))] = np.inf
        prev = np.argmin(cost, axis=0)
        split = cost[prev, np.arange(len(values))]
        cut.append(np.where(split < best, prev, KEEP))
        best = np.minimum(best, split)
        totals.append(best[-1])
    k = int(np.argmin(np.array(totals) + shape_cost * np.arange(1, len(totals) + 1))) + 1
    picked, j = [], len(values) - 1
    for level in reversed(cut[:k]):  # walk back from the longest length, one padded length per cut
        if j < 0:
            break
        if level[j] != KEEP:
            picked.append(int(values[j]))
            j = level[j]
    return sorted(picked)


def _batcher(seqs, labels, pad_to: list[int] | None):
    """chunk of review indices -> (token ids padded with 0, the masked id, labels), in TensorFlow ops only
    (no Python inside tf.data). Width: the smallest of `pad_to` that fits the chunk (else its longest)."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    values = np.concatenate(seqs).astype(np.int32) if len(seqs) else np.zeros(0, np.int32)
    reviews = tf.RaggedTensor.from_row_lengths(values, lengths)
    labels = tf.constant(np.asarray(labels, np.float32))
    widths = tf.constant(pad_to or [0], tf.int64)

    def batch(chunk):
        x = tf.gather(reviews, chunk).to_tensor()
        longest = tf.shape(x, out_type=tf.int64)[1]
        if pad_to:
            i = tf.searchsorted(widths, longest[None])[0]
            width = tf.where(i < len(pad_to), tf.gather(widths, tf.minimum(i, len(pad_to) - 1)), longest)
            x = tf.pad(x, [[0, 0], [0, width - longest]])
        return x, tf.gather(labels, chunk)

    return lengths, batch


def train_batches(seqs, labels, batch_size: int, seed: int, pad_to: list[int] | None = None) -> tf.data.Dataset:
    """Reshuffled every epoch (seeded): reviews sorted into their padded-length group in random order,
    cut into batches, batches in random order. Every batch is full, so there is one batch shape per
    padded length: when the reviews do not fill the last batch, a few random others fill it up (they
    are seen twice that epoch, as PyTorch's DistributedSampler does)."""
    lengths, batch = _batcher(seqs, labels, pad_to)
    group = tf.constant(np.searchsorted(pad_to, lengths) if pad_to else lengths)
    n, short = len(lengths), -len(lengths) % batch_size

    def chunks(permutation):  # this epoch's reviews, grouped by length, cut into full batches
        order = tf.concat([permutation, tf.tile(permutation, [short // n + 1])[:short]], 0)
        order = tf.gather(order, tf.argsort(tf.gather(group, order), stable=True))
        return tf.reshape(order, [-1, batch_size])

    epoch = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(n)
    ds = epoch.map(chunks).unbatch().shuffle((n + short) // batch_size, seed=seed + 1, reshuffle_each_iteration=True)
    return ds.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def eval_batches(seqs, labels, batch_size: int, pad_to: list[int] | None = None) -> tuple[tf.data.Dataset, np.ndarray]:
    """Batches in length order, padded to `pad_to` lengths (or each to its longest review), and that
    order, so predictions can be put back in input order."""
    lengths, batch = _batcher(seqs, labels, pad_to)
    order = np.argsort(lengths, kind="stable")
    ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
    return ds.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE), order


def predict_in_order(model, seqs, batch_size: int, pad_to: list[int] | None = None, window: int | None = None,
                     average: str = WINDOW_AVERAGES[0]) -> np.ndarray:
    """P(positive) for each review, in the order given. With `window` (data.window), the sigmoid of the mean
    of its windows' log-odds, so that a window the model is sure of counts for more than an unsure one
    (validation prefers it, README "Results"); or `average="probability"`, the mean of their probabilities,
    as the first windowed jobs had it."""
    if window:
        pieces, owner = windows(seqs, window)
        probs = predict_in_order(model, pieces, batch_size, pad_to).astype(np.float64)
        if average == "log_odds":
            probs = np.clip(probs, 1e-7, 1 - 1e-7)  # float32 sigmoids reach 0 and 1
            probs = np.log(probs) - np.log1p(-probs)
        mean = np.bincount(owner, probs, len(seqs)) / np.bincount(owner, minlength=len(seqs))
        return (1 / (1 + np.exp(-mean)) if average == "log_odds" else mean).astype(np.float32)
    ds, order = eval_batches(seqs, np.zeros(len(seqs)), batch_size, pad_to)
    probs = model.predict(ds.map(lambda x, y: x), verbose=0)[:, 0]
    out = np.empty_like(probs)
    out[order] = probs
    return out
