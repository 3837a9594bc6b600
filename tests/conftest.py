"""Shared fixtures: the command line run as a user runs it, on the bundled sample."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONF_DIR = REPO / "conf"

# Fast settings for jobs whose numbers do not matter, only their behaviour.
TINY = ["experiment=quick", "tuner=none", "train.epochs=2", "arch.units=8", "arch.embedding_dim=8"]


def pytest_collection_modifyitems(items):
    # Anything that needs a trained job is slow, whether or not its own code says so.
    for item in items:
        if "quick_job" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One tokenized-data cache for the whole session, never the user's own."""
    return tmp_path_factory.mktemp("cache")


def cli_env(cache_dir: Path) -> dict:
    """The environment of a command run by a test: the session's cache, and no IMDB_RNN_DATA (each test
    says which data it uses)."""
    env = {**os.environ, "IMDB_RNN_CACHE": str(cache_dir)}
    env.pop("IMDB_RNN_DATA", None)
    return env


def wait_for(ready, proc: subprocess.Popen, log: Path, what: str, timeout: float = 300) -> None:
    """Poll until ready() is true while `proc` runs (its output going to `log`): fail, with the log's
    tail, if it ends first, or when `timeout` seconds pass. Then a test can stop it at that point."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"it ended while the test waited for {what}: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def ctrl_c_reaches_children():
    """A shell that runs the tests in the background ignores SIGINT, and a command inherits that (Python
    then leaves Ctrl-C ignored too); a terminal's job does not. A command started under this fixture gets
    SIGINT as at a terminal: a handler of the test's own is reset to the default when the command starts."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def run_cli(cache_dir):
    """Run `python -m <module> ARGS` in a subprocess from the repo root; return the CompletedProcess."""

    def run(*args, module="imdb_rnn", env=None, timeout=900, cwd=REPO, stdin=None):
        full_env = {**cli_env(cache_dir), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, input=stdin,
        )

    return run


@pytest.fixture(scope="session")
def quick_job(run_cli, tmp_path_factory) -> Path:
    """A real `experiment=quick` job on the sample (tiny random search + retrain), run once per session."""
    out = tmp_path_factory.mktemp("quick_job")
    result = run_cli("experiment=quick", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


# Fast sweep settings: no search, one epoch, a tiny model.
SWEEP_TINY = ["experiment=quick", "tuner=none", "train.epochs=1", "arch.units=8", "arch.embedding_dim=8"]


@pytest.fixture(scope="session")
def tiny_sweep(run_cli, tmp_path_factory):
    """A real sweep on the sample, run once per session: rnn,gru x buckets 0_129,130_175 (4 tiny jobs)
    plus, for each arch, the bucket `quantile` with index 9 of 5, which cannot work (2 failing jobs).
    `++bucket.index=9` sets index on every bucket; the fixed ones ignore it. Returns (sweep dir, result)."""
    sweep_dir = tmp_path_factory.mktemp("tiny_sweep")
    result = run_cli(
        "-m", "arch=rnn,gru", "bucket=0_129,130_175,quantile", "++bucket.index=9", *SWEEP_TINY,
        f"hydra.sweep.dir={sweep_dir}",
    )
    return sweep_dir, result
