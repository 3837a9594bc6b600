"""The line to beat, `arch=tfidf_lr`: TF-IDF over word n-grams + logistic regression (scikit-learn).

It reads the same tokens as the recurrent models (every word of the training vocabulary, not just
data.vocab_size of them) and fits on the same training split. Saved as plain arrays in model.npz
(n-grams, idf weights, coefficients), never pickled, and rebuilt from them to predict.
"""

from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from imdb_rnn import artifacts

ALL_WORDS = np.iinfo(np.int32).max  # vocab_size that keeps every word id


def documents(seqs) -> list[str]:
    """Token ids as text for the vectorizer: "12 7 530 ...", without the start token."""
    return [" ".join(map(str, s[1:])) for s in seqs]


def _vectorizer(settings: dict, **fitted) -> TfidfVectorizer:
    vectorizer = TfidfVectorizer(
        token_pattern=r"\S+",  # the words are already tokenized (ids)
        ngram_range=(1, int(settings["ngram_max"])),
        min_df=int(settings["min_df"]),
        sublinear_tf=bool(settings["sublinear_tf"]),
        dtype=np.float32,
    )
    for name, value in fitted.items():
        setattr(vectorizer, name, value)
    return vectorizer


def fit(seqs, labels, settings: dict, seed: int) -> Pipeline:
    model = Pipeline([
        ("tfidf", _vectorizer(settings)),
        ("lr", LogisticRegression(C=float(settings["C"]), max_iter=int(settings["max_iter"]), random_state=seed)),
    ])
    return model.fit(documents(seqs), np.asarray(labels))


def predict(model: Pipeline, seqs) -> np.ndarray:
    """P(positive) for each review."""
    return model.predict_proba(documents(seqs))[:, 1].astype(np.float32)


def save(model: Pipeline, settings: dict, path: Path) -> None:
    vectorizer, lr = model.named_steps["tfidf"], model.named_steps["lr"]
    ngrams = np.array(sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get))
    arrays = {"ngrams": ngrams, "idf": vectorizer.idf_, "coef": lr.coef_[0], "intercept": lr.intercept_}
    arrays.update({f"setting_{k}": np.asarray(v) for k, v in settings.items() if k in ("ngram_max", "min_df", "sublinear_tf")})
    artifacts.write_npz(path, arrays)


def load(path: Path) -> Pipeline:
    """The saved model, rebuilt from its arrays (allow_pickle=False: nothing in the file can run code)."""
    with np.load(path, allow_pickle=False) as f:
        settings = {k.removeprefix("setting_"): f[k].item() for k in f.files if k.startswith("setting_")}
        ngrams, idf, coef, intercept = f["ngrams"], f["idf"], f["coef"], f["intercept"]
    vectorizer = _vectorizer(settings, vocabulary_={str(g): i for i, g in enumerate(ngrams)})
    vectorizer.idf_ = idf
    lr = LogisticRegression()
    lr.classes_, lr.coef_, lr.intercept_ = np.array([0, 1]), coef[None, :], intercept
    return Pipeline([("tfidf", vectorizer), ("lr", lr)])
