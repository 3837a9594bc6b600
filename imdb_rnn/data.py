"""IMDb reviews as token-id sequences: sources, tokenizer, vocabulary and on-disk cache.

Sources (conf/data):
  archive  the official raw-text aclImdb_v1.tar.gz (or its extracted aclImdb/ folder),
  npz      Keras' pre-tokenized imdb.npz (+ imdb_word_index.json, to map words back to ids),
  sample   a small real sample shipped inside the package (scripts/make_sample.py builds it).

Raw text is tokenized the way Keras tokenized IMDb, so lengths (and the classic bucket edges) match
keras.datasets.imdb. Word ids are ranks in a vocabulary built from the *training* reviews only:
0 = padding, 1 = start of review, 2 = out of vocabulary, 3 = the most frequent training word, ...
A job keeps the vocab_size - 3 most frequent words; rarer ones become 2.
"""

import hashlib
import json
import logging
import os
import re
import socket
import tarfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imdb_rnn import UserError

log = logging.getLogger(__name__)

PAD, START, OOV = 0, 1, 2
FIRST_WORD_ID = 3
TOKENIZER_VERSION = 2  # bump when tokenization or the cache layout changes

ARCHIVE_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
NPZ_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"
SAMPLE_PATH = Path(__file__).parent / "sample" / "aclImdb_sample.tar.gz"

# Keras' Tokenizer defaults: lowercase, these characters become spaces, split on whitespace.
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TO_SPACE = str.maketrans({c: " " for c in FILTERS})
_REVIEW_FILE = re.compile(r"(?:^|/)(train|test)/(pos|neg)/([^/]+)\.txt$")
# urls_pos.txt line i: the IMDb page of the movie that review i_<stars>.txt is about.
_URLS_FILE = re.compile(r"(?:^|/)(train|test)/urls_(pos|neg)\.txt$")
_MOVIE_ID = re.compile(r"tt\d+")


# How raw text becomes ids, as recorded in each job's tokenizer.json (imdb_rnn.predict checks it).
TOKENIZER_FORMAT = "imdb_rnn.tokenizer/1"
TOKENIZER_RULES = {
    "lowercase": True,
    "filters": FILTERS,
    "pad_id": PAD,
    "start_id": START,
    "oov_id": OOV,
    "first_word_id": FIRST_WORD_ID,
}
# Which tokens a review longer than max_len keeps (imdb_rnn.inputs.truncate): its first, its last, or both ends.
KEEP_SIDES = ("first", "last", "both")
# How a review read in windows (data.window) gets one probability from its windows' (data.window_average,
# imdb_rnn.inputs.predict_in_order): the default combines their log-odds; the first windowed jobs, before the
# setting, averaged their probabilities (tokenizer.json says which).
WINDOW_AVERAGES = ("log_odds", "probability")


def tokenize(text: str) -> list[str]:
    return text.lower().translate(_TO_SPACE).split()


@dataclass
class Split:
    """One split's reviews as a ragged array: review i is tokens[offsets[i]:offsets[i + 1]]."""

    tokens: np.ndarray  # int32 word ids, START first in every review
    offsets: np.ndarray  # int64, len = n + 1
    labels: np.ndarray  # int8, 1 = positive
    ids: np.ndarray  # str, e.g. "test/pos/123_9"
    movies: np.ndarray  # str, the IMDb title the review is about, e.g. "tt0453418"; "" where unknown

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequences(self, vocab_size: int) -> list[np.ndarray]:
        """Each review's ids, with words outside the first vocab_size ids mapped to OOV."""
        tokens = np.where(self.tokens < vocab_size, self.tokens, OOV).astype(np.int32)
        return np.split(tokens, self.offsets[1:-1])

    def subset(self, index: np.ndarray) -> "Split":
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        parts = [self.tokens[self.offsets[i] : self.offsets[i + 1]] for i in index]
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        return Split(
            tokens=np.concatenate(parts) if parts else np.zeros(0, np.int32),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            labels=self.labels[index],
            ids=self.ids[index],
            movies=self.movies[index],
        )


@dataclass
class Corpus:
    train: Split
    test: Split
    vocab: list[str]  # vocab[i] is the word with id FIRST_WORD_ID + i, most frequent first
    source: str  # where it came from, for metrics and logs

    def word_ids(self, vocab_size: int) -> dict[str, int]:
        """word -> id for the words a model with this vocab_size knows (what predict needs)."""
        return {w: FIRST_WORD_ID + i for i, w in enumerate(self.vocab[: max(0, vocab_size - FIRST_WORD_ID)])}


def encode(text: str, word_ids: dict[str, int]) -> list[int]:
    """Raw review text -> ids, exactly as the training reviews were encoded."""
    return [START] + [word_ids.get(w, OOV) for w in tokenize(text)]


# ----------------------------------------------------------------------------------------------
# Loading


def load(cfg) -> Corpus:
    """The corpus for a `data` config: from the cache when possible, else read, tokenize and cache it."""
    source, path = _locate(cfg)
    cache_file = Path(os.path.expanduser(cfg.cache_dir)) / f"{source}-{_fingerprint(path)}-v{TOKENIZER_VERSION}.npz"
    if cache_file.exists():
        try:
            return _read_cache(cache_file, str(path))
        except Exception as exc:  # a truncated or foreign cache file: rebuild it
            log.warning("ignoring unreadable cache %s (%s)", cache_file, exc)
    started = time.perf_counter()
    corpus = _read_npz(path) if source == "npz" else _read_reviews(path)
    log.info("tokenized %s in %.1f s", path, time.perf_counter() - started)
    _write_cache(cache_file, corpus)
    return corpus


def check_source(cfg) -> None:
    """A UserError naming the fix for an unknown data.source or a data.path that is not there (checks.py
    calls this before any work; nothing is read or downloaded)."""
    if cfg.source not in ("archive", "npz", "sample"):
        raise UserError(f"unknown data.source={cfg.source!r}: use archive, npz or sample")
    if cfg.source == "sample" and cfg.path:  # else the job would quietly train on the sample instead
        raise UserError(f"data.path={cfg.path} is not read with data=sample (the bundled sample, as experiment=quick "
                        f"has it): add data=imdb to read it")
    if cfg.source != "sample" and cfg.path and not Path(os.path.expanduser(str(cfg.path))).exists():
        raise UserError(f"data.path={cfg.path} does not exist: pass an aclImdb_v1.tar.gz, an aclImdb/ folder or an imdb.npz")


def _locate(cfg) -> tuple[str, Path]:
    """(source kind, local path), downloading the official file when no path is given."""
    check_source(cfg)
    if cfg.source == "sample":
        return "archive", SAMPLE_PATH
    if cfg.path:
        path = Path(os.path.expanduser(str(cfg.path))).resolve()
        return ("npz" if path.suffix == ".npz" else "archive"), path
    if cfg.source == "npz":
        return "npz", _download("imdb.npz", NPZ_URL, NPZ_SHA256)
    return "archive", _download("aclImdb_v1.tar.gz", ARCHIVE_URL, None)


def _download(fname: str, url: str, file_hash: str | None) -> Path:
    import keras

    try:
        return Path(keras.utils.get_file(fname, url, file_hash=file_hash))
    except Exception as exc:
        raise UserError(
            f"could not download {url} ({exc or type(exc).__name__}); without internet, fetch {fname} "
            f"elsewhere and pass data.path=/path/to/{fname} (or set IMDB_RNN_DATA)"
        ) from None


def _fingerprint(path: Path) -> str:
    """Content hash of a file, or of a folder's review names and sizes: the cache key."""
    digest = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    else:
        for file in sorted(path.rglob("*.txt")):
            digest.update(f"{file.relative_to(path)}:{file.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def _iter_files(path: Path, wanted: tuple[re.Pattern, ...]):
    """(regex match, text) for every file of an aclImdb archive or folder whose path matches one of `wanted`."""
    if path.is_dir():
        for file in path.rglob("*.txt"):
            match = next(filter(None, (w.search(file.as_posix()) for w in wanted)), None)
            if match:
                yield match, file.read_text(encoding="utf-8", errors="replace")
        return
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = next(filter(None, (w.search(member.name) for w in wanted)), None)
                if match and member.isfile():
                    yield match, archive.extractfile(member).read().decode("utf-8", errors="replace")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(
            f"{path} is not a readable aclImdb archive ({exc}); re-download aclImdb_v1.tar.gz and pass it as data.path"
        ) from None


def _iter_review_files(path: Path):
    """(split, label, review_id, text) for every review in an aclImdb archive or folder."""
    for match, text in _iter_files(path, (_REVIEW_FILE,)):
        yield *match.groups(), text


def _read_reviews(path: Path) -> Corpus:
    rows, urls = {"train": [], "test": []}, {}
    for match, text in _iter_files(path, (_REVIEW_FILE, _URLS_FILE)):
        if match.re is _URLS_FILE:
            urls[match.groups()] = text.splitlines()
            continue
        split, label, review_id = match.groups()
        rows[split].append((label == "pos", f"{split}/{label}/{review_id}", tokenize(text)))
    for split, found in rows.items():
        labels = {positive for positive, _, _ in found}
        if labels != {True, False}:
            raise UserError(
                f"{path} has no {split}/pos and {split}/neg reviews: it is not the aclImdb dataset; "
                "pass aclImdb_v1.tar.gz or its extracted aclImdb/ folder as data.path"
            )
        found.sort(key=lambda row: row[1])  # file order differs between archives and folders

    # Vocabulary from the training reviews only: the test set must not shape the model.
    counts = Counter(w for _, _, words in rows["train"] for w in words)
    vocab = [w for w, _ in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))]
    word_ids = {w: FIRST_WORD_ID + i for i, w in enumerate(vocab)}

    def movie(review_id: str) -> str:
        """The review's IMDb title, from urls_<label>.txt ("" without that file)."""
        split, label, name = review_id.split("/")
        number, lines = name.split("_")[0], urls.get((split, label), [])
        found = _MOVIE_ID.search(lines[int(number)]) if number.isdigit() and int(number) < len(lines) else None
        return found.group() if found else ""

    def to_split(found) -> Split:
        seqs = [[START] + [word_ids.get(w, OOV) for w in words] for _, _, words in found]
        ids = [rid for _, rid, _ in found]
        return _split_from_sequences(seqs, [positive for positive, _, _ in found], ids, [movie(rid) for rid in ids])

    return Corpus(to_split(rows["train"]), to_split(rows["test"]), vocab, str(path))


def _read_npz(path: Path) -> Corpus:
    """Keras' imdb.npz: word ids are Keras word-index ranks (1 = "the"), without the start token."""
    try:
        # The file stores ragged sequences as object arrays, which only pickle can hold.
        with np.load(path, allow_pickle=True) as f:
            raw = {split: (f[f"x_{split}"], f[f"y_{split}"]) for split in ("train", "test")}
    except Exception as exc:
        raise UserError(f"{path} is not a readable imdb.npz ({type(exc).__name__}); re-download it or pass another data.path") from None
    word_index = _read_word_index(path)
    index_word = {i: w for w, i in word_index.items()}

    # Re-rank by training frequency, as for raw text, so both sources share one vocabulary rule.
    counts = Counter(int(i) for seq in raw["train"][0] for i in seq)
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    new_id = np.full(max(index_word.keys() | counts.keys()) + 1, OOV, dtype=np.int32)
    new_id[ranked] = FIRST_WORD_ID + np.arange(len(ranked))
    vocab = [index_word.get(i, f"<{i}>") for i in ranked]

    def to_split(split) -> Split:
        x, y = raw[split]
        seqs = [np.concatenate([[START], new_id[np.asarray(seq, dtype=np.int64)]]) for seq in x]
        return _split_from_sequences(seqs, y, [f"{split}/{i}" for i in range(len(x))], [""] * len(x))  # no movies

    return Corpus(to_split("train"), to_split("test"), vocab, str(path))


def _read_word_index(npz_path: Path) -> dict[str, int]:
    local = npz_path.with_name("imdb_word_index.json")
    path = local if local.exists() else _download("imdb_word_index.json", WORD_INDEX_URL, WORD_INDEX_MD5)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _split_from_sequences(seqs, labels, ids, movies) -> Split:
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    return Split(
        tokens=np.concatenate(seqs).astype(np.int32) if len(seqs) else np.zeros(0, np.int32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        labels=np.asarray(labels, dtype=np.int8),
        ids=np.asarray(ids, dtype=str),
        movies=np.asarray(movies, dtype=str),
    )


# ----------------------------------------------------------------------------------------------
# Cache: one .npz per source file, no pickles.

SPLIT_FIELDS = ("tokens", "offsets", "labels", "ids", "movies")


def _write_cache(cache_file: Path, corpus: Corpus) -> None:
    arrays = {"vocab": np.array("\n".join(corpus.vocab))}
    for name in ("train", "test"):
        split = getattr(corpus, name)
        arrays.update({f"{name}_{field}": getattr(split, field) for field in SPLIT_FIELDS})
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp-{socket.gethostname()}-{os.getpid()}")  # unique on shared storage too
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, cache_file)
    except OSError as exc:  # a read-only cache dir only costs speed
        log.warning("could not write the data cache %s (%s)", cache_file, exc)


def _read_cache(cache_file: Path, source: str) -> Corpus:
    with np.load(cache_file, allow_pickle=False) as f:
        splits = {
            name: Split(*(f[f"{name}_{field}"] for field in SPLIT_FIELDS))
            for name in ("train", "test")
        }
        vocab = str(f["vocab"]).split("\n")
    return Corpus(splits["train"], splits["test"], vocab, source)
