"""Length buckets: which reviews a job keeps, by token length (start token included).

Two schemes:
  fixed     inclusive [min_len, max_len] from the config (the classic edges, `all`, or any custom range);
  quantile  n_buckets equal-count buckets whose edges are quantiles of the *training* lengths; `index`
            picks one (0 = shortest).
"""

from dataclasses import dataclass

import numpy as np
from omegaconf import OmegaConf


@dataclass(frozen=True)
class Bucket:
    name: str
    min_len: int
    max_len: int | None  # None = no upper bound

    def contains(self, lengths: np.ndarray) -> np.ndarray:
        keep = lengths >= self.min_len
        if self.max_len is not None:
            keep &= lengths <= self.max_len
        return keep


def bucket_name(min_len, max_len) -> str:
    """`130_175`, or `all` for the unbounded range, or `300_max` for an open-ended one."""
    min_len = min_len or 0
    if max_len is None:
        return "all" if min_len == 0 else f"{min_len}_max"
    return f"{min_len}_{max_len}"


def register_resolvers() -> None:
    # conf/bucket/*.yaml name themselves with ${bucket_name:${.min_len},${.max_len}}, so a custom
    # `bucket.min_len=... bucket.max_len=...` override renames the bucket (and its output dir) too.
    OmegaConf.register_new_resolver("bucket_name", bucket_name, replace=True)


def quantile_edges(train_lengths: np.ndarray, n_buckets: int) -> list[tuple[int, int]]:
    """Inclusive (min, max) ranges splitting the training lengths into n_buckets of about equal count."""
    inner = np.quantile(train_lengths, np.arange(1, n_buckets) / n_buckets, method="lower").astype(int)
    lows = [0] + [int(edge) + 1 for edge in inner]
    highs = [int(edge) for edge in inner] + [int(train_lengths.max())]
    return list(zip(lows, highs))


def resolve(cfg, train_lengths: np.ndarray) -> Bucket:
    """The Bucket a job uses, from its `bucket` config (and the training lengths, for quantiles)."""
    # The bucket's rules live with every other setting's, in checks.py; imported here, as `import imdb_rnn`
    # loads this module and checks.py would bring data.py along.
    from imdb_rnn.checks import check_bucket

    check_bucket(cfg)
    if cfg.scheme == "fixed":
        return Bucket(str(cfg.name), int(cfg.min_len or 0), None if cfg.max_len is None else int(cfg.max_len))
    min_len, max_len = quantile_edges(train_lengths, cfg.n_buckets)[cfg.index]
    return Bucket(str(cfg.name), min_len, max_len)
