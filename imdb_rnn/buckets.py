"""Length buckets: which reviews a job keeps, by token length (start token included).

Two schemes:
  fixed     inclusive [min_len, max_len] from the config (the classic edges, `all`, or any custom range);
  quantile  n_buckets equal-count buckets whose edges are quantiles of the *training* lengths; `index`
            picks one (0 = shortest).
"""

from dataclasses import dataclass

import numpy as np
from omegaconf import OmegaConf

from imdb_rnn import UserError


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


def check(cfg) -> None:
    """UserError, naming the fix, for a `bucket` config no data can satisfy (checks.py runs it before any work)."""
    if cfg.scheme == "fixed":
        for key in ("min_len", "max_len"):
            if cfg[key] is not None and not _is_count(cfg[key]):
                raise UserError(f"bucket.{key}={cfg[key]!r}: use a non-negative integer")
        if cfg.max_len is not None and (cfg.min_len or 0) > cfg.max_len:
            raise UserError(f"bucket.min_len={cfg.min_len} > bucket.max_len={cfg.max_len}: give a range with min_len <= max_len")
    elif cfg.scheme == "quantile":
        if not (_is_count(cfg.n_buckets) and cfg.n_buckets > 0):
            raise UserError(f"bucket.n_buckets={cfg.n_buckets!r}: use a positive integer")
        if not (_is_count(cfg.index) and cfg.index < cfg.n_buckets):
            raise UserError(f"bucket.index={cfg.index!r} is out of range for bucket.n_buckets={cfg.n_buckets}: "
                            f"use 0..{cfg.n_buckets - 1}")
    else:
        raise UserError(f"unknown bucket.scheme={cfg.scheme!r}: use fixed or quantile")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def resolve(cfg, train_lengths: np.ndarray) -> Bucket:
    """The Bucket a job uses, from its `bucket` config (and the training lengths, for quantiles)."""
    check(cfg)
    if cfg.scheme == "fixed":
        return Bucket(str(cfg.name), int(cfg.min_len or 0), None if cfg.max_len is None else int(cfg.max_len))
    min_len, max_len = quantile_edges(train_lengths, cfg.n_buckets)[cfg.index]
    return Bucket(str(cfg.name), min_len, max_len)
