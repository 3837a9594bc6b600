"""How a job stops short, in process and fast: a diverged loss, a SIGTERM or Ctrl-C that a library swallows,
and a kill during a checkpoint save (the end-to-end stopped jobs are in test_job.py)."""

import os
import signal
import threading
import time

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from imdb_rnn import cli, job


def tiny_model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def test_a_diverged_loss_stops_training_with_one_error_and_keeps_the_history(tmp_path):
    """job.train_and_log, behind both the training and the refit: NaN loss -> stop, history.csv, RuntimeError."""
    model = tiny_model()
    labels = np.full(64, np.nan, dtype="float32")  # any loss on them is NaN
    train_ds = tf.data.Dataset.from_tensor_slices((np.ones((64, 4), "float32"), labels)).batch(16)
    with pytest.raises(RuntimeError, match="training diverged .* lower arch.learning_rate or set arch.clipnorm"):
        job.train_and_log(model, train_ds, None, 5, [], tmp_path / "history.csv", 0)
    history = pd.read_csv(tmp_path / "history.csv")
    assert len(history) == 1 and history["loss"].isna().all()  # stopped in the first epoch, which is kept


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_that_a_library_swallows_is_raised_again(signum):
    """Keras' model.save has a bare `except:`: a SIGTERM or Ctrl-C whose exception lands there is swallowed,
    and the job trained on (until CI's wait ran out, or the user pressed Ctrl-C again). The job must still
    stop, and not be stopped again in the cleanup on its way out (what writes metrics.json)."""
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signum, cli.STOP_SIGNALS[signum])  # as in a job: nothing else handles the signal
    cleaned_up = False
    try:
        with pytest.raises(cli.Stopped) as stopped, cli.stop_signals_raise():
            try:
                os.kill(os.getpid(), signum)
                time.sleep(1)  # the handler raises here
            except BaseException:  # noqa: BLE001, S110 - what a bare except does
                pass
            started = time.monotonic()
            try:
                while time.monotonic() - started < 10:  # "training on": Stopped must come again within it
                    time.sleep(0.01)
            finally:
                time.sleep(2.5)  # cleanup on the way out, longer than the repeats' interval
                cleaned_up = True
        assert time.monotonic() - started < 2.5 + 2, "the swallowed signal was not raised again within a second or so"
        assert cleaned_up and stopped.value.signum == signum
        assert signal.getsignal(signum) == cli.STOP_SIGNALS[signum]
    finally:
        signal.signal(signum, previous)


def test_a_signal_that_has_a_handler_of_its_own_is_left_to_it():
    """submitit's SIGTERM handler requeues the job on a cluster; a job must not take it over."""
    def requeue(signum, frame):
        requeued.append(signum)

    requeued = []
    previous = signal.signal(signal.SIGTERM, requeue)
    try:
        with cli.stop_signals_raise():
            assert signal.getsignal(signal.SIGTERM) is requeue
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        assert requeued == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is requeue
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_kill_during_a_checkpoint_save_keeps_the_last_whole_checkpoint(tmp_path, monkeypatch):
    """Keras writes a checkpoint's zip in place: a SIGTERM during a save left a truncated best.keras. The
    checkpoint must stay the last whole save, with nothing half-written beside it."""
    path = tmp_path / "checkpoints" / "best.keras"
    model = tiny_model()
    checkpoint = job.BestCheckpoint(path, "val_loss")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_loss": 0.5})
    saved = [weights.copy() for weights in model.get_weights()]
    checkpoint.on_epoch_end(1, {"val_loss": 0.6})  # no better: no save
    assert os.listdir(path.parent) == ["best.keras"]

    def killed_mid_save(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 the first bytes of a zip")
        raise cli.Stopped(signal.SIGTERM)

    model.set_weights([weights + 1 for weights in saved])
    monkeypatch.setattr(model, "save", killed_mid_save)
    with pytest.raises(cli.Stopped):
        checkpoint.on_epoch_end(2, {"val_loss": 0.4})
    assert os.listdir(path.parent) == ["best.keras"]
    for kept, weights in zip(keras.models.load_model(path, compile=False).get_weights(), saved, strict=True):
        np.testing.assert_array_equal(kept, weights)
