"""Token-id sequences -> tf.data batches of reviews of similar length, padded to a few fixed lengths.

Why fixed lengths: models are XLA-compiled (train.jit_compile), and XLA compiles once per batch shape,
for every model a search builds. `padded_lengths` weighs padding against compilations: one length for a
narrow bucket, several for a wide one. Padding is masked in the model, so it never changes a review's
prediction.
"""

import numpy as np
import tensorflow as tf

MAX_PADDED_LENGTHS = 8  # at most this many batch shapes (each one an XLA compilation per model)
KEEP = -2  # in padded_lengths: one more length did not help this group, it stays as with one fewer


def truncate(seqs: list[np.ndarray], max_len: int | None, keep: str) -> list[np.ndarray]:
    """Cap reviews at max_len tokens, keeping their `first` or `last` tokens."""
    if not max_len:
        return seqs
    return [s[:max_len] if keep == "first" else s[-max_len:] for s in seqs]


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


class Sequences:
    """Reviews stored as one flat array, padded into batches on demand (with 0, the masked id)."""

    def __init__(self, seqs: list[np.ndarray]):
        self.lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.values = np.concatenate(seqs).astype(np.int32) if seqs else np.zeros(0, np.int32)

    def batch(self, idx: np.ndarray, pad_to: list[int] | None) -> np.ndarray:
        longest = int(self.lengths[idx].max())
        width = longest if pad_to is None or longest > pad_to[-1] else pad_to[np.searchsorted(pad_to, longest)]
        out = np.zeros((len(idx), width), dtype=np.int32)
        for row, i in enumerate(idx):
            out[row, : self.lengths[i]] = self.values[self.offsets[i] : self.offsets[i + 1]]
        return out


def _dataset(batches) -> tf.data.Dataset:
    signature = (tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.float32))
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(tf.data.AUTOTUNE)


def train_batches(seqs, labels, batch_size: int, seed: int, pad_to: list[int] | None = None) -> tf.data.Dataset:
    """Reshuffled every epoch (seeded): reviews sorted into their padded-length group in random order,
    cut into batches, batches in random order. Every batch is full, so there is one batch shape per
    padded length: when the reviews do not fill the last batch, a few random others fill it up (they
    are seen twice that epoch, as PyTorch's DistributedSampler does)."""
    reviews, labels = Sequences(seqs), np.asarray(labels, np.float32)
    group = np.searchsorted(pad_to, reviews.lengths) if pad_to else reviews.lengths
    rng = np.random.default_rng(seed)
    n, short = len(labels), -len(labels) % batch_size

    def epoch():
        order = rng.permutation(n)
        order = np.concatenate([order, rng.choice(n, short, replace=short > n)])
        order = order[np.argsort(group[order], kind="stable")]
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for k in rng.permutation(len(chunks)):
            yield reviews.batch(chunks[k], pad_to), labels[chunks[k]]

    return _dataset(epoch)


def eval_batches(seqs, labels, batch_size: int, pad_to: list[int] | None = None) -> tuple[tf.data.Dataset, np.ndarray]:
    """Batches in length order, padded to `pad_to` lengths (or each to its longest review), and that
    order, so predictions can be put back in input order."""
    reviews, labels = Sequences(seqs), np.asarray(labels, np.float32)
    order = np.argsort(reviews.lengths, kind="stable")
    batches = [
        (reviews.batch(idx, pad_to), labels[idx]) for idx in (order[i : i + batch_size] for i in range(0, len(order), batch_size))
    ]
    return _dataset(lambda: iter(batches)), order


def predict_in_order(model, seqs, batch_size: int, pad_to: list[int] | None = None) -> np.ndarray:
    """P(positive) for each review, in the order given."""
    ds, order = eval_batches(seqs, np.zeros(len(seqs)), batch_size, pad_to)
    probs = model.predict(ds.map(lambda x, y: x), verbose=0)[:, 0]
    out = np.empty_like(probs)
    out[order] = probs
    return out
