"""The classic input pipeline against ours, side by side in one process, same model and data.

    python benchmarks/pipeline_speed.py --arch lstm --bucket 598_2494 --epochs 3
    python benchmarks/pipeline_speed.py --arch gru --bucket all --epochs 2 --max-train 4000

(a) classic: every review pre-padded to the bucket's maximum length, numpy arrays, batch 32, and the
             earlier pipeline's model (Embedding without a padding mask -> recurrent -> Dropout -> Dense);
(b) ours:    imdb_rnn.inputs batches of similar-length reviews padded to a few fixed lengths, and
             imdb_rnn.models (padding masked, so predictions do not depend on the batch), XLA-compiled
             as in a job (train.jit_compile; add train.jit_compile=false to the overrides to see it off).
Both train a freshly seeded model with the same hyperparameters for the same number of epochs and are
then evaluated on the bucket's test reviews, so no speed is bought with accuracy. Prints seconds per
epoch (steady state, and the first epoch, which includes tracing and XLA compilation), the total
training time, real (non-padding) training tokens per second, the train step's trace count, peak memory
(resident set size, cumulative over the process: (b) runs first) and test accuracy.
"""

import argparse
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from imdb_rnn import data, inputs, job  # noqa: E402
from imdb_rnn.__main__ import group_options, quote_group_options  # noqa: E402
from imdb_rnn.cli import config_dir  # noqa: E402
from imdb_rnn.models import build_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t0)


def count_traces(model) -> list[int]:
    """Wrap model.train_step so each (re)trace of the train function bumps the returned counter:
    Python code inside a tf.function runs only while it is being traced."""
    counter, step = [0], model.train_step

    def counting_train_step(data):
        counter[0] += 1
        return step(data)

    model.train_step = counting_train_step
    return counter


def classic_model(settings: dict, vocab_size: int) -> keras.Model:
    """The earlier hand-written pipeline's model: no padding mask (it relied on pre-padding), same sizes."""
    cell = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[settings["cell"]]
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, settings["embedding_dim"]),
        cell(settings["units"]),
        keras.layers.Dropout(settings["dropout"]),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def run(name, model, fit_data, evaluate_data, epochs, real_tokens, fit_kwargs):
    timer, traces = EpochTimer(), count_traces(model)
    t0 = time.perf_counter()
    model.fit(fit_data, epochs=epochs, verbose=0, callbacks=[timer], **fit_kwargs)
    total = time.perf_counter() - t0
    accuracy = model.evaluate(*evaluate_data, verbose=0, return_dict=True)["accuracy"]
    # the first epoch includes tracing; report the steady state when there is one
    steady = timer.seconds[1:] or timer.seconds
    per_epoch = float(np.mean(steady))
    return {
        "pipeline": name,
        "s_per_epoch": per_epoch,
        "first_epoch_s": timer.seconds[0],
        "total_s": total,
        "real_tokens_per_s": real_tokens / per_epoch,
        "train_traces": traces[0],
        "peak_rss_gb": peak_rss_gb(),
        "test_accuracy": accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "aclImdb.tar.gz"))
    parser.add_argument("--arch", default="lstm", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--bucket", default="598_2494")
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-train", type=int, default=None, help="subsample the bucket's training reviews")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("overrides", nargs="*", help="more config overrides for ours, e.g. train.jit_compile=false")
    args = parser.parse_args()

    overrides = [
        f"arch={args.arch}", f"bucket={args.bucket}", f"data.path={args.data}", f"data.vocab_size={args.vocab_size}",
        f"arch.units={args.units}", f"arch.embedding_dim={args.embedding_dim}", f"seed={args.seed}",
        f"train.batch_size={args.batch_size}", *args.overrides,
    ]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("config", overrides=quote_group_options(overrides, group_options(Path(config_dir()))))
    job.configure_tensorflow(cfg)
    t0 = time.perf_counter()
    corpus = data.load(cfg.data)
    prep_s = time.perf_counter() - t0
    splits = job.bucket_splits(corpus, cfg)
    train, test = splits.train, splits.test
    if args.max_train and len(train) > args.max_train:
        keep = np.random.default_rng(args.seed).choice(len(train), args.max_train, replace=False)
        train = train.subset(np.sort(keep))
    x_train, x_test = train.sequences(splits.vocab_size), test.sequences(splits.vocab_size)
    classic_len = splits.bucket.max_len or int(corpus.train.lengths.max())
    real_tokens = int(train.lengths.sum())
    settings = {**OmegaConf.to_container(cfg.arch, resolve=True)}
    print(
        f"{args.arch} on bucket {splits.bucket.name}: {len(train)} train / {len(test)} test reviews, "
        f"mean length {train.lengths.mean():.0f}, classic pads to {classic_len}; data prep {prep_s:.2f} s; "
        f"{args.epochs} epochs, batch {args.batch_size}, embedding {args.embedding_dim}, units {args.units}"
    )

    results = []
    keras.utils.set_random_seed(args.seed)
    pad_to = job.batch_lengths(cfg.train, train.lengths, longest=int(test.lengths.max()))
    print(f"ours: batches padded to {pad_to}, XLA {'on' if cfg.train.jit_compile else 'off'}")
    ours_eval, _ = inputs.eval_batches(x_test, test.labels, args.batch_size, pad_to)
    results.append(run(
        "ours (length-grouped)", build_model(settings, splits.vocab_size, cfg.train.jit_compile),
        inputs.train_batches(x_train, train.labels, args.batch_size, args.seed, pad_to), (ours_eval,),
        args.epochs, real_tokens, {"shuffle": False},
    ))
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    pad = lambda seqs: keras.utils.pad_sequences(seqs, maxlen=classic_len, padding="pre", truncating="pre")  # noqa: E731
    results.append(run(
        "classic (pre-padded)", classic_model(settings, splits.vocab_size),
        pad(x_train), (pad(x_test), test.labels.astype("float32")),
        args.epochs, real_tokens, {"y": train.labels.astype("float32"), "batch_size": args.batch_size, "shuffle": True},
    ))

    header = (f"{'pipeline':<24}{'s/epoch':>9}{'1st epoch s':>13}{'total s':>9}{'real tok/s':>12}{'traces':>8}"
              f"{'peak RSS GB':>13}{'test acc':>10}")
    print(header)
    for r in results:
        print(
            f"{r['pipeline']:<24}{r['s_per_epoch']:>9.1f}{r['first_epoch_s']:>13.1f}{r['total_s']:>9.1f}"
            f"{r['real_tokens_per_s']:>12,.0f}{str(r['train_traces']):>8}{r['peak_rss_gb']:>13.2f}{r['test_accuracy']:>10.4f}"
        )
    ours, classic = results
    print(f"speed-up (real tokens/s, ours / classic): {ours['real_tokens_per_s'] / classic['real_tokens_per_s']:.2f}x; "
          f"total training time, compilation included: {classic['total_s'] / ours['total_s']:.2f}x")


if __name__ == "__main__":
    main()
