"""`python -m imdb_rnn.predict RUN_DIR [TEXT ...]`: classify new reviews with a finished job's model.

    python -m imdb_rnn.predict outputs/runs/lstm_130_175/2024-... "A wonderful, moving film."
    python -m imdb_rnn.predict RUN_DIR --file reviews.txt       # one review per line
    python -m imdb_rnn.predict RUN_DIR --file my_reviews/       # one review per .txt file
    cat reviews.txt | python -m imdb_rnn.predict RUN_DIR --output predictions.csv

Only the job dir is needed (model.keras, or model.npz for arch=tfidf_lr, tokenizer.json, metrics.json), not the dataset, and nothing is
downloaded. Text goes through the very tokenizer and truncation training used (imdb_rnn.data.encode,
imdb_rnn.inputs.truncate), so a review gets the probability the job itself would have given it.

In Python: `load_run(run_dir).predict(["great film", "dull"])` -> array of P(positive).

What is trusted: model.keras is loaded in Keras safe mode (see _load_model), model.npz as plain arrays
(allow_pickle=False), tokenizer.json as plain JSON; nothing is ever unpickled.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported (lazily, in _load_model)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from imdb_rnn import UserError, artifacts, data  # noqa: E402  (neither imports TensorFlow)
from imdb_rnn.quiet import import_tensorflow_quietly, run_command  # noqa: E402

PROG = "imdb_rnn.predict"
DEFAULT_BATCH_SIZE = 64
THRESHOLD = 0.5  # positive when P > 0.5, as Keras' accuracy metric counted it during training
PREVIEW_CHARS = 60
LINEAR_MODEL = "model.npz"  # what an arch=tfidf_lr job saves instead of model.keras


class Predictor:
    """A trained model (Keras, or the tfidf_lr baseline's) plus the exact text -> token-id pipeline of its job."""

    def __init__(self, model, tokenizer: dict, run_dir: Path | None = None):
        check_tokenizer(tokenizer, "tokenizer")
        _check_model_matches(model, tokenizer, run_dir)
        self.model = model
        self.run_dir = run_dir
        self.vocab_size = tokenizer["vocab_size"]
        self.max_len = tokenizer["max_len"]
        self.keep = tokenizer["keep"]
        self.window = tokenizer.get("window")  # data.window; jobs before it read whole reviews
        self.window_average = tokenizer.get("window_average") or "probability"  # the first windowed jobs' rule
        first = tokenizer["first_word_id"]
        self.word_ids = {word: first + i for i, word in enumerate(tokenizer["words"])}

    def encode(self, texts) -> list[np.ndarray]:
        """Each text's token ids (start token first), before truncation, exactly as training encoded reviews."""
        return [np.asarray(data.encode(text, self.word_ids), dtype=np.int32) for text in _text_list(texts)]

    def predict_ids(self, seqs: list[np.ndarray], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """P(positive) for encoded reviews, cut to the job's max_len the way training cut them (and read in
        its windows, data.window, combined as the job combined them)."""
        from imdb_rnn import inputs, linear

        if len(seqs) == 0:
            return np.zeros(0, dtype=np.float32)
        seqs = inputs.truncate(list(seqs), self.max_len, self.keep)
        if hasattr(self.model, "predict_proba"):  # the tfidf_lr baseline (a scikit-learn pipeline)
            return linear.predict(self.model, seqs)
        return inputs.predict_in_order(self.model, seqs, batch_size, window=self.window, average=self.window_average)

    def predict(self, texts, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """P(positive) for each raw review text, in the order given."""
        return self.predict_ids(self.encode(texts), batch_size)

    def truncated(self, seqs: list[np.ndarray]) -> np.ndarray:
        """Which encoded reviews are longer than the model was trained to read (and so get cut)."""
        return np.array([bool(self.max_len) and len(s) > self.max_len for s in seqs], dtype=bool)


def _text_list(texts) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("pass a list of review texts, not a single string")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"review texts must be str, not {type(text).__name__} (decode bytes first)")
    return texts


# ----------------------------------------------------------------------------------------------
# Loading a run dir


def load_run(run_dir) -> Predictor:
    """The Predictor of a finished job dir; UserError (with the fix) when the dir cannot be used."""
    run_dir = Path(run_dir)
    return _predictor(run_dir, check_run(run_dir))


def _predictor(run_dir: Path, tokenizer: dict) -> Predictor:
    if (run_dir / LINEAR_MODEL).is_file():
        return Predictor(_load_linear(run_dir / LINEAR_MODEL), tokenizer, run_dir)
    return Predictor(_load_model(run_dir / "model.keras"), tokenizer, run_dir)


def check_run(run_dir: Path) -> dict:
    """Cheap checks of a job dir, before TensorFlow is even imported; returns its tokenizer spec."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a directory: pass the output dir of a finished `python -m imdb_rnn` job")
    metrics = artifacts.read_metrics(run_dir)
    if metrics is None:
        raise UserError(
            f"{run_dir} has no readable {artifacts.METRICS}: it is not an imdb_rnn job dir; pass the output dir "
            "of a finished `python -m imdb_rnn` job (copy metrics.json, model.keras and tokenizer.json together)"
        )
    status = metrics.get("status") if isinstance(metrics, dict) else None
    if status != "complete":
        error = " ".join(str(metrics.get("error") or "").split())[:200] if isinstance(metrics, dict) else ""
        reason = f" ({error})" if error else ""
        raise UserError(
            f"the job in {run_dir} is not complete (metrics.json status {status!r}{reason}): it has no final model; "
            "wait for it to finish, or rerun it if it failed or was stopped"
        )
    model_path = run_dir / "model.keras"
    if not (model_path.is_file() or (run_dir / LINEAR_MODEL).is_file()):
        raise UserError(f"{run_dir} has no model.keras: copy it along with tokenizer.json from the job dir, or rerun the job")
    return read_tokenizer(run_dir / "tokenizer.json")


def read_tokenizer(path: Path) -> dict:
    try:
        spec = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise UserError(f"{path.parent} has no tokenizer.json: copy it along with model.keras from the job dir, or rerun the job") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not readable JSON ({type(exc).__name__}); copy it again from the job dir, or rerun the job") from None
    check_tokenizer(spec, str(path))
    return spec


def check_tokenizer(spec, where: str) -> None:
    """UserError unless `spec` is a tokenizer this version of imdb_rnn can reproduce exactly."""
    fix = "use the tokenizer.json written by the same job as model.keras (rerun the job with this version of imdb_rnn)"
    if not isinstance(spec, dict) or spec.get("format") != data.TOKENIZER_FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise UserError(f"{where} has format {found!r}, not {data.TOKENIZER_FORMAT!r}: {fix}")
    for key, expected in data.TOKENIZER_RULES.items():
        if spec.get(key) != expected or type(spec.get(key)) is not type(expected):
            raise UserError(f"{where} has {key}={spec.get(key)!r} but imdb_rnn.data uses {expected!r}: {fix}")
    words, vocab_size, max_len = spec.get("words"), spec.get("vocab_size"), spec.get("max_len")
    if not (isinstance(words, list) and all(isinstance(w, str) for w in words) and len(set(words)) == len(words)):
        raise UserError(f"{where}: `words` is not a list of distinct strings: {fix}")
    if not (_is_int(vocab_size) and vocab_size == spec["first_word_id"] + len(words)):
        raise UserError(f"{where}: vocab_size={vocab_size!r} does not match its {len(words)} words: {fix}")
    if not (max_len is None or (_is_int(max_len) and max_len > 0)):
        raise UserError(f"{where}: max_len={max_len!r} is neither null nor a positive integer: {fix}")
    window = spec.get("window")
    if not (window is None or (_is_int(window) and window > 0)):
        raise UserError(f"{where}: window={window!r} is neither null nor a positive integer: {fix}")
    if spec.get("window_average") not in (None, *data.WINDOW_AVERAGES):
        raise UserError(f"{where}: window_average={spec.get('window_average')!r} is not one of "
                        f"{', '.join(data.WINDOW_AVERAGES)}: {fix}")
    if spec.get("keep") not in data.KEEP_SIDES:
        raise UserError(f"{where}: keep={spec.get('keep')!r} is not one of {', '.join(data.KEEP_SIDES)}: {fix}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_linear(path: Path):
    from imdb_rnn import linear

    try:
        return linear.load(path)
    except Exception as exc:  # a corrupt or foreign file
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"{path} could not be loaded as a tfidf_lr model ({type(exc).__name__}: {detail}): "
                        "copy model.npz again from the job dir, or rerun the job") from None


def _load_model(path: Path):
    fix = "copy model.keras again from the job dir, or rerun the job"
    # Only a .keras zip archive: Keras would also accept a folder or fall back to other formats.
    if not (path.is_file() and zipfile.is_zipfile(path)):
        raise UserError(f"{path} is not a Keras model archive (.keras zip): {fix}")

    import_tensorflow_quietly()
    import keras

    import imdb_rnn.models  # noqa: F401  registers MaskedGlobalMaxPooling1D, which models may contain

    try:
        # safe_mode=True is Keras' default, spelled out so that nobody turns it off: in safe mode Keras
        # refuses to deserialize Python bytecode (Lambda layers) and objects from modules other than
        # Keras' own and registered ones, so opening a tampered model.keras does not run code from it.
        # It is no sandbox, though: only use models from sources you trust, with an up-to-date Keras.
        # compile=False: predicting needs no optimizer or loss.
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # a corrupt or foreign archive: many exception types, all the user's to fix
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"{path} could not be loaded as a Keras model ({type(exc).__name__}: {detail}): {fix}") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1 or tuple(model.outputs[0].shape)[1:] != (1,):
        raise UserError(f"{path} is not an imdb_rnn classifier (one token-id input, one probability out): {fix}")
    return model


# TensorFlow 2.21 logs a few INFO lines (oneDNN, CUDA) while it loads, before absl logging is set up, so
# TF_CPP_MIN_LOG_LEVEL does not silence them. They would surround this tool's one-line errors.
def _check_model_matches(model, tokenizer: dict, run_dir: Path | None) -> None:
    """The model's embedding must cover exactly the tokenizer's ids (else they come from different jobs)."""
    import keras

    embedding = next((layer for layer in getattr(model, "layers", []) if isinstance(layer, keras.layers.Embedding)), None)
    if embedding is not None and embedding.input_dim != tokenizer["vocab_size"]:
        raise UserError(
            f"in {run_dir or 'this run'}, model.keras reads {embedding.input_dim} word ids but tokenizer.json has "
            f"{tokenizer['vocab_size']}: they come from different jobs; copy both from the same job dir"
        )


# ----------------------------------------------------------------------------------------------
# Reading reviews: (source, text) pairs


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8-sig", errors="replace")  # invalid bytes become U+FFFD, a leading BOM goes


def _lines(text: str, name: str) -> list[tuple[str, str]]:
    """One review per non-blank line ("\\n" only: IMDb-style text may hold other line-break characters)."""
    return [(f"{name}:{i}", line.rstrip("\r")) for i, line in enumerate(text.split("\n"), 1) if line.strip()]


def read_file(path: Path) -> list[tuple[str, str]]:
    """A text file: one review per line. A folder: one review per .txt file in it (and in its subfolders)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise UserError(f"--file {path} is a folder without .txt files: pass a folder of reviews, one per .txt file")
        return [(str(f), _decode(f.read_bytes())) for f in files]
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"--file {path} does not exist: pass a text file with one review per line, or a folder of .txt files") from None
    except OSError as exc:
        raise UserError(f"--file {path} cannot be read ({exc.strerror or exc}): check its permissions") from None
    return _lines(_decode(raw), str(path))


class _Stdin:
    """Standard input: its reviews the first time `-` appears, none after that."""

    def __init__(self):
        self.done = False

    def read(self) -> list[tuple[str, str]]:
        if self.done:
            return []
        self.done = True
        if sys.stdin is None:
            raise UserError("no standard input to read reviews from: pass review text or --file PATH")
        if sys.stdin.isatty():
            print("reading reviews from standard input, one per line (end with Ctrl-D)", file=sys.stderr)
        stream = getattr(sys.stdin, "buffer", None)
        raw = stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
        return _lines(_decode(raw), "stdin")


def gather_reviews(texts: list[str], files: list[str]) -> list[tuple[str, str]]:
    stdin = _Stdin()
    reviews = []
    if not texts and not files:
        texts = ["-"]
    for i, text in enumerate(texts, 1):
        if text == "-":
            reviews += stdin.read()
        else:
            # Arguments that were not valid UTF-8 reach Python as surrogate escapes: turn them into U+FFFD too.
            reviews.append((f"arg{i}", _decode(os.fsencode(text))))
    for name in files:
        reviews += stdin.read() if name == "-" else read_file(Path(name))
    if not reviews:
        raise UserError("no reviews to classify (the input was empty): pass review text, --file PATH, or one review per line on standard input")
    return reviews


# ----------------------------------------------------------------------------------------------
# Command line


def preview(text: str, width: int = PREVIEW_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: the usage line, then one `imdb_rnn.predict: error:` line, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"python -m {PROG}",
        description="Classify movie reviews as positive or negative with the model of a finished imdb_rnn job.",
        epilog=(
            "Reviews come from TEXT arguments and/or --file; with neither, from standard input (one review per "
            "line). Reviews longer than the job's data.max_len are cut the way training cut them, and read in "
            "its windows (data.window) if it had them. "
            "The run dir alone is needed: no dataset, no network."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output dir of a finished job (holds model.keras and tokenizer.json)")
    parser.add_argument("texts", metavar="TEXT", nargs="*", default=[], help="review text; - reads standard input")
    parser.add_argument(
        "--file", "-f", action="append", default=[], metavar="PATH",
        help="text file with one review per line, or folder of .txt files with one review each; - is standard input; repeatable",
    )
    parser.add_argument("--output", "-o", metavar="CSV", help="write source,words,truncated,probability,label,preview to this CSV (- = standard output)")
    parser.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, help=f"reviews per model call (default {DEFAULT_BATCH_SIZE})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)  # texts may come after options too
    try:
        tokenizer = check_run(Path(args.run_dir))  # a bad run dir is reported before any input is read
        reviews = gather_reviews(args.texts, args.file)
        run_dir = Path(args.run_dir)
        predictor = _predictor(run_dir, tokenizer)
        seqs = predictor.encode([text for _, text in reviews])
        probability = predictor.predict_ids(seqs, args.batch_size)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1

    table = {
        "source": [source for source, _ in reviews],
        "words": [len(s) - 1 for s in seqs],  # minus the start token
        "truncated": predictor.truncated(seqs),
        "probability": probability,
        "label": np.where(probability > THRESHOLD, "positive", "negative"),
        "preview": [preview(text) for _, text in reviews],
    }
    if args.output:
        import pandas as pd

        frame = pd.DataFrame(table)
        if args.output == "-":
            frame.to_csv(sys.stdout, index=False)
        else:
            try:
                artifacts.write_csv(Path(args.output), frame)
            except OSError as exc:
                print(f"{PROG}: error: cannot write --output {args.output} ({exc.strerror or exc}): choose another path", file=sys.stderr)
                return 1
            n_pos = int((probability > THRESHOLD).sum())
            print(f"wrote {len(reviews)} predictions to {args.output} ({n_pos} positive, {len(reviews) - n_pos} negative)")
    else:
        width = max(6, *(len(s) for s in table["source"]))
        print(f"{'label':<8}  {'probability':>11}  {'words':>6}  {'source':<{width}}  review")
        for i in range(len(reviews)):
            words = f"{table['words'][i]}{'*' if table['truncated'][i] else ''}"
            print(
                f"{table['label'][i]:<8}  {table['probability'][i]:>11.4f}  {words:>6}  "
                f"{table['source'][i]:<{width}}  {table['preview'][i]}"
            )
    empty = np.array(table["words"]) == 0
    if empty.any():
        print(f"note: {int(empty.sum())} review(s) have no words: their probability is only the model's prior", file=sys.stderr)
    if table["truncated"].any():
        print(
            f"note: {int(table['truncated'].sum())} review(s) (words marked *) longer than the model's max_len={predictor.max_len} tokens "
            f"were cut to {predictor.max_len} tokens as in training (keep={predictor.keep}: its first, last or both ends)",
            file=sys.stderr,
        )
    return 0


def run() -> None:
    run_command(main)


if __name__ == "__main__":
    run()
