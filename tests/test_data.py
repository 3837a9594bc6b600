"""Data sources, tokenization, vocabulary (train only), buckets and the cache, on small real data."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from imdb_rnn import UserError, buckets, data, job

FULL_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb.tar.gz"


def data_cfg(tmp_path, **kw):
    return OmegaConf.create({"source": "archive", "path": None, "cache_dir": str(tmp_path / "cache"), **kw})


def write_aclimdb(root: Path, reviews: dict) -> Path:
    """reviews: {"train/pos": ["text", ...], ...} -> an aclImdb/ folder."""
    for folder, texts in reviews.items():
        (root / "aclImdb" / folder).mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            (root / "aclImdb" / folder / f"{i}_7.txt").write_text(text, encoding="utf-8")
    return root / "aclImdb"


TINY_REVIEWS = {
    "train/pos": ["A good, GOOD movie!<br /><br />Don't miss it.", "good fun"],
    "train/neg": ["A bad movie.", "bad bad bad"],
    "test/pos": ["Excellent movie", "good"],
    "test/neg": ["terrible", "bad movie"],
}


def test_tokenize_like_keras():
    assert data.tokenize("A good, GOOD movie!<br /><br />Don't miss it.") == [
        "a", "good", "good", "movie", "br", "br", "don't", "miss", "it",
    ]
    assert data.tokenize("tab\tnew\nline_under-score") == ["tab", "new", "line", "under", "score"]


def test_vocabulary_comes_from_training_reviews_only(tmp_path):
    corpus = data.load(data_cfg(tmp_path, path=str(write_aclimdb(tmp_path, TINY_REVIEWS))))
    assert "excellent" not in corpus.vocab and "terrible" not in corpus.vocab  # test-only words
    assert corpus.vocab[0] == "bad" and corpus.vocab[1] == "good"  # most frequent first
    ids = dict(zip(corpus.test.ids, corpus.test.sequences(1000)))
    assert list(ids["test/pos/0_7"]) == [data.START, data.OOV, corpus.word_ids(1000)["movie"]]
    assert list(ids["test/neg/0_7"]) == [data.START, data.OOV]
    # lengths count the start token; labels follow the folder
    assert sorted(corpus.train.lengths) == [3, 4, 4, 10]
    assert dict(zip(corpus.train.ids, corpus.train.labels))["train/pos/1_7"] == 1


def test_vocab_size_maps_rare_words_to_oov(tmp_path):
    corpus = data.load(data_cfg(tmp_path, path=str(write_aclimdb(tmp_path, TINY_REVIEWS))))
    seqs = corpus.train.sequences(vocab_size=4)  # keeps only id 3 = "bad"
    assert all(set(s) <= {data.START, data.OOV, 3} for s in seqs)


def test_encode_matches_the_stored_training_sequences(tmp_path):
    corpus = data.load(data_cfg(tmp_path, path=str(write_aclimdb(tmp_path, TINY_REVIEWS))))
    word_ids = corpus.word_ids(1000)
    stored = dict(zip(corpus.train.ids, corpus.train.sequences(1000)))
    assert data.encode(TINY_REVIEWS["train/pos"][0], word_ids) == list(stored["train/pos/0_7"])


def test_archive_and_folder_give_the_same_corpus(tmp_path):
    folder = write_aclimdb(tmp_path, TINY_REVIEWS)
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    a = data.load(data_cfg(tmp_path, path=str(folder)))
    b = data.load(data_cfg(tmp_path, path=str(archive)))
    assert a.vocab == b.vocab and list(a.test.ids) == list(b.test.ids)
    assert np.array_equal(a.train.tokens, b.train.tokens)


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    cfg = data_cfg(tmp_path, path=str(write_aclimdb(tmp_path, TINY_REVIEWS)))
    first = data.load(cfg)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    monkeypatch.setattr(data, "_read_reviews", lambda path: pytest.fail("re-read despite the cache"))
    second = data.load(cfg)
    assert second.vocab == first.vocab and np.array_equal(second.test.tokens, first.test.tokens)


def test_corrupt_cache_is_rebuilt(tmp_path):
    cfg = data_cfg(tmp_path, path=str(write_aclimdb(tmp_path, TINY_REVIEWS)))
    first = data.load(cfg)
    cache_file = next((tmp_path / "cache").glob("*.npz"))
    cache_file.write_bytes(b"not an npz")
    assert data.load(cfg).vocab == first.vocab


def test_movies_come_from_the_urls_files(tmp_path):
    """urls_<label>.txt line i is the IMDb page of review i_<stars>.txt's movie; without the file: ""."""
    folder = write_aclimdb(tmp_path, TINY_REVIEWS)
    (folder / "train" / "urls_pos.txt").write_text(
        "http://www.imdb.com/title/tt0453418/usercomments\nhttp://www.imdb.com/title/tt0064354/usercomments\n")
    corpus = data.load(data_cfg(tmp_path, path=str(folder)))
    movies = dict(zip(corpus.train.ids, corpus.train.movies))
    assert movies == {"train/pos/0_7": "tt0453418", "train/pos/1_7": "tt0064354", "train/neg/0_7": "", "train/neg/1_7": ""}
    subset = corpus.train.subset(corpus.train.labels == 1)
    assert sorted(subset.movies) == ["tt0064354", "tt0453418"]


def test_bundled_sample_is_balanced_and_spans_lengths(tmp_path):
    corpus = data.load(data_cfg(tmp_path, source="sample"))
    assert (len(corpus.train), len(corpus.test)) == (2000, 1000)
    assert corpus.train.labels.mean() == 0.5 and corpus.test.labels.mean() == 0.5
    assert corpus.train.lengths.min() < 60 and corpus.train.lengths.max() > 1000
    assert all(m.startswith("tt") for m in [*corpus.train.movies, *corpus.test.movies])  # its urls_*.txt came along


def test_npz_source(tmp_path):
    """Keras' imdb.npz layout: object arrays of word-index ranks, no start token, + the word index."""
    words = {"the": 1, "movie": 2, "great": 3, "awful": 4, "plot": 5}
    x_train = [[1, 2, 3], [1, 2, 4, 4], [5, 3], [4]]
    x_test = [[1, 3], [4, 5, 5]]
    npz = tmp_path / "imdb.npz"
    obj = lambda seqs: np.array([list(s) for s in seqs], dtype=object)  # noqa: E731
    np.savez(npz, x_train=obj(x_train), y_train=np.array([1, 0, 1, 0]), x_test=obj(x_test), y_test=np.array([1, 0]))
    (tmp_path / "imdb_word_index.json").write_text(json.dumps(words))

    corpus = data.load(data_cfg(tmp_path, source="npz", path=str(npz)))
    assert corpus.vocab[0] == "awful"  # re-ranked by training frequency (3 times)
    id_word = {i: w for w, i in corpus.word_ids(100).items()}
    decoded = [[id_word[i] for i in seq[1:]] for seq in corpus.train.sequences(100)]
    index_word = {i: w for w, i in words.items()}
    assert decoded == [[index_word[i] for i in seq] for seq in x_train]
    assert list(corpus.test.lengths) == [3, 4]  # start token included
    assert list(corpus.train.labels) == [1, 0, 1, 0]


def test_bucket_edges_are_inclusive():
    bucket = buckets.Bucket("130_175", 130, 175)
    assert list(bucket.contains(np.array([129, 130, 175, 176]))) == [False, True, True, False]
    assert list(buckets.Bucket("all", 0, None).contains(np.array([1, 10**6]))) == [True, True]


def test_quantile_buckets_have_equal_counts_and_tile_the_range():
    lengths = np.random.default_rng(0).integers(10, 2000, size=10_000)
    edges = buckets.quantile_edges(lengths, 5)
    counts = [((lengths >= lo) & (lengths <= hi)).sum() for lo, hi in edges]
    assert sum(counts) == len(lengths) and max(counts) - min(counts) < 0.02 * len(lengths)
    assert all(edges[i][1] + 1 == edges[i + 1][0] for i in range(4))


def test_bad_bucket_ranges_are_user_errors():
    cfg = OmegaConf.create({"scheme": "fixed", "min_len": 200, "max_len": 100, "name": "x"})
    with pytest.raises(UserError, match="min_len <= max_len"):
        buckets.resolve(cfg, np.arange(10))
    cfg = OmegaConf.create({"scheme": "quantile", "n_buckets": 5, "index": 5, "name": "x"})
    with pytest.raises(UserError, match="0..4"):
        buckets.resolve(cfg, np.arange(10))


def test_corrupt_or_foreign_archives_are_user_errors(tmp_path):
    garbage = tmp_path / "aclImdb_v1.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"garbage" * 100)
    with pytest.raises(UserError, match="not a readable aclImdb archive"):
        data.load(data_cfg(tmp_path, path=str(garbage)))
    foreign = tmp_path / "other.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        info = tarfile.TarInfo("notes/readme.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UserError, match="not the aclImdb dataset"):
        data.load(data_cfg(tmp_path, path=str(foreign)))
    with pytest.raises(UserError, match="does not exist"):
        data.load(data_cfg(tmp_path, path=str(tmp_path / "missing.tar.gz")))


@pytest.mark.parametrize("val_split", ["random", "movie"])
def test_validation_split_is_seeded_and_movie_split_shares_no_movie(val_split, tmp_path):
    corpus = data.load(OmegaConf.create({"source": "sample", "path": None, "cache_dir": str(tmp_path)}))
    cfg = OmegaConf.create({"val_fraction": 0.2, "val_split": val_split})
    train_idx, val_idx = job.validation_split(corpus.train, cfg, 0, "sample")
    assert sorted([*train_idx, *val_idx]) == list(range(len(corpus.train)))
    assert abs(len(val_idx) / len(corpus.train) - 0.2) < 0.03
    again, _ = job.validation_split(corpus.train, cfg, 0, "sample")
    assert np.array_equal(train_idx, again)
    shared = set(corpus.train.movies[train_idx]) & set(corpus.train.movies[val_idx])
    assert (not shared) if val_split == "movie" else shared  # at random, validation reviews share movies with training


def test_movie_split_needs_the_movies(tmp_path):
    corpus = data.load(OmegaConf.create({"source": "sample", "path": None, "cache_dir": str(tmp_path)}))
    no_movies = corpus.train.subset(np.arange(100))
    no_movies.movies[:] = ""  # what an imdb.npz gives
    movie_split = OmegaConf.create({"val_fraction": 0.2, "val_split": "movie"})
    with pytest.raises(UserError, match="data.val_split=random"):
        job.validation_split(no_movies, movie_split, 0, "imdb.npz")
    one_movie = corpus.train.subset(corpus.train.movies == corpus.train.movies[0])  # nothing to hold out
    with pytest.raises(UserError, match="all about one movie; use data.val_split=random or a wider bucket"):
        job.validation_split(one_movie, movie_split, 0, "sample")


@pytest.mark.slow
@pytest.mark.skipif(not FULL_ARCHIVE.exists(), reason="the full archive lives in ../shared/data")
def test_full_archive_matches_keras_lengths_and_classic_buckets(tmp_path):
    corpus = data.load(data_cfg(tmp_path, path=str(FULL_ARCHIVE)))
    train, test = corpus.train.lengths, corpus.test.lengths
    assert (len(train), len(test)) == (25_000, 25_000)
    assert train.max() == 2494  # exactly Keras' imdb.npz
    counts = [(((train >= lo) & (train <= hi)).sum(), ((test >= lo) & (test <= hi)).sum())
              for lo, hi in [(0, 129), (130, 175), (176, 284), (285, 597), (598, 2494)]]
    assert counts == [(6168, 6379), (6090, 6087), (6306, 6331), (5116, 4982), (1320, 1221)]
    # Every review knows its movie; IMDb's train and test sets are (all but one title) disjoint in movies.
    train_movies, test_movies = set(corpus.train.movies), set(corpus.test.movies)
    assert "" not in train_movies | test_movies and (len(train_movies), len(test_movies)) == (3456, 3581)
    assert train_movies & test_movies == {"tt0406816"}
    # urls_neg.txt lines 8506-8509 (from 0): You Light Up My Life twice, then The Lord of the Rings twice.
    movies = dict(zip(corpus.test.ids, corpus.test.movies))
    assert [movies[f"test/neg/{i}"] for i in ("8507_1", "8508_3")] == ["tt0076941", "tt0120737"]
