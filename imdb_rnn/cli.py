"""The Hydra entry point: compose the config, run one job in its own output dir, report failures.

`python -m imdb_rnn` goes through __main__.py first (which makes names like 130_175 reach Hydra as
strings), then here.

Sweeps: a job whose dir already holds a complete metrics.json is skipped, so re-running a sweep into
the same hydra.sweep.dir finishes only what is left (a single run always runs). At the end of a sweep,
SweepSummary (registered under hydra.callbacks in conf/config.yaml) writes sweep_summary.{json,csv}
and lists the jobs that failed.
"""

import _thread
import atexit
import logging
import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import to_absolute_path
from omegaconf import OmegaConf

from imdb_rnn import UserError, artifacts, job_config
from imdb_rnn.checks import check_config
from imdb_rnn.quiet import import_tensorflow_quietly

log = logging.getLogger("imdb_rnn")

# Sweep job dirs are arch_bucket plus ",key=value,..." for the other swept keys (hydra.sweep.subdir).
OmegaConf.register_new_resolver("cell_suffix", lambda extra: f",{extra}" if extra else "", replace=True)

# Job dirs of the last sweep that did not end complete; __main__ exits non-zero when there are any.
sweep_failures: list[str] = []


def config_dir() -> str:
    """conf/ packaged inside an installed wheel, else the repository's conf/ (editable install, checkout)."""
    packaged = Path(__file__).resolve().parent / "conf"
    return str(packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg) -> dict | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.job.chdir:
        paths_from_launch_dir(cfg)
    done = skip_if_complete(cfg, out_dir) if hydra_cfg.mode == RunMode.MULTIRUN else None
    if done is not None:
        return done  # resuming a sweep: this job finished in an earlier run
    try:
        with stop_signals_raise():
            check_config(cfg)  # before TensorFlow loads: an impossible setting fails in seconds, not after the import
            import_tensorflow_quietly()
            from imdb_rnn.job import run_job  # TensorFlow loads here, not for --help or --cfg

            return run_job(cfg, out_dir)
    except (Exception, KeyboardInterrupt) as exc:
        reason = str(exc) if isinstance(exc, (UserError, Stopped)) else f"{type(exc).__name__}: {exc}"
        reason = " ".join(reason.split())  # one line, whatever the library's message looked like
        if not isinstance(exc, (UserError, Stopped)):
            log.error("job failed:\n%s", traceback.format_exc())
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if (artifacts.read_metrics(out_dir) or {}).get("status") != "complete":  # stopped before its first write: not its dir
            artifacts.write_json(out_dir / artifacts.METRICS, {"status": status, "error": reason, "job_dir": str(out_dir)})
        if hydra_cfg.mode == RunMode.MULTIRUN and not isinstance(exc, KeyboardInterrupt):
            log.error("job %s failed: %s", out_dir, reason)
            return None  # the sweep goes on
        print(f"imdb_rnn: error: {reason}", file=sys.stderr)
        sys.exit(128 + exc.signum if isinstance(exc, Stopped) else 130 if isinstance(exc, KeyboardInterrupt) else 1)


# The settings that name a file or dir the user has (as opposed to the job's own output dir).
USER_PATHS = ("data.path", "data.cache_dir", "train.refit_from", "tuner.directory")


def paths_from_launch_dir(cfg) -> None:
    """hydra.job.chdir=true runs the job inside its output dir; a relative path given on the command line
    (data.path=../data/aclImdb_v1.tar.gz) still means the dir the command was run from (Hydra's
    to_absolute_path), so the job reads what the user pointed at. config.yaml records the absolute path."""
    for key in USER_PATHS:
        value = OmegaConf.select(cfg, key)
        if value and not os.path.isabs(os.path.expanduser(str(value))):
            OmegaConf.update(cfg, key, to_absolute_path(str(value)))


class Stopped(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or `kill` (SIGTERM: also `docker stop`, a scheduler's time limit) stopped the job:
    its metrics.json says `interrupted` instead of `running` forever, and the exit status is 128 + the
    signal's number (130, 143)."""

    def __init__(self, signum: int):
        self.signum = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        super().__init__(f"stopped by {name}: run the same command again to redo the job (a sweep resumes where it stopped)")


# Each stop signal with the handler it has when nothing else took it over: SIGTERM's is the default
# (the process dies), SIGINT's is Python's KeyboardInterrupt.
STOP_SIGNALS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


@contextmanager
def stop_signals_raise():
    """Raise Stopped on Ctrl-C or SIGTERM while a job runs. A signal that already has a handler of its
    own is left to it (submitit's SIGTERM requeues a job on a cluster; a shell that ignores SIGINT in a
    background job), and only the main thread receives signals at all.

    A library can swallow an exception raised at an arbitrary line (Keras' model.save has a bare `except:`
    around opening a temp file: a stop that landed in a checkpoint save went on training), so once a stop
    signal came, it is raised again every second until the job is on its way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ours = [signum for signum, untouched in STOP_SIGNALS.items() if signal.getsignal(signum) == untouched]
    received = None  # the signal that came; plain flags: a handler must not take a lock it may have interrupted
    stopping = False
    done = threading.Event()

    def interrupt(signum, frame):
        nonlocal received
        received = received or signum
        if not stopping and not isinstance(sys.exc_info()[1], Stopped):  # not again in an except/finally on the way out
            raise Stopped(received)

    def repeat():
        while not done.wait(1.0):
            if received:
                _thread.interrupt_main(received)

    repeater = threading.Thread(target=repeat, name="stop-signal-repeat", daemon=True)
    repeater.start()
    previous = {signum: signal.signal(signum, interrupt) for signum in ours}
    try:
        yield
    finally:
        stopping = True  # first: a repeat that lands from here on raises nothing
        done.set()
        repeater.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def skip_if_complete(cfg, out_dir: Path) -> dict | None:
    """The metrics of a job already completed in out_dir (a resumed sweep), else None (run it)."""
    metrics = artifacts.read_metrics(out_dir)
    if not metrics or metrics.get("status") != "complete":
        return None
    log.info("skipping complete job %s (test accuracy %.4f)", out_dir, metrics.get("test_accuracy", float("nan")))
    try:  # same dir, different settings: most likely a mistake, so say which (a setting added since: its default)
        changed = job_config.changed(out_dir, cfg)
    except Exception:  # noqa: BLE001 - the warning is a courtesy; never fail the skip over it
        changed = []
    if changed:
        log.warning("%s was completed with other settings (%s); kept as is: use a new dir to rerun",
                    out_dir, ", ".join(changed))
    return metrics


class OutputDirCheck(Callback):
    """Before any job: the run's or the sweep's dir can be made and written (IMDB_RNN_OUTPUTS set to storage
    this machine lacks, a read-only place), else one line naming the fix instead of Hydra's traceback."""

    def on_run_start(self, config, **kwargs) -> None:
        _writable_or_exit(config.hydra.run.dir, "job dir", "hydra.run.dir")

    def on_multirun_start(self, config, **kwargs) -> None:
        _writable_or_exit(config.hydra.sweep.dir, "sweep dir", "hydra.sweep.dir")


def _writable_or_exit(path, what: str, key: str) -> None:
    path = Path(str(path))  # the same dir Hydra makes next: its ${now:} is resolved once and cached
    try:
        path.mkdir(parents=True, exist_ok=True)
        problem = None if os.access(path, os.W_OK) else "not writable"
    except OSError as exc:
        problem = exc.strerror
    if problem:
        print(f"imdb_rnn: error: cannot create the {what} {path} ({problem}): set {key}, or IMDB_RNN_OUTPUTS, "
              "to a dir you can write to", file=sys.stderr)
        sys.exit(1)


class SweepSummary(Callback):
    """After a sweep: sweep_summary.json/.csv at the sweep dir's root (one row per job dir found
    there, with its status and error), and the jobs that did not complete on stderr."""

    def on_multirun_start(self, config, **kwargs) -> None:
        # Hydra skips on_multirun_end when the launcher itself raises, as submitit does in this process
        # when one of its jobs was killed (a SLURM timeout, out of memory, kill -9): the job never got to
        # write "failed". The sweep then still exits 1, and the summary is written on the way out.
        self._ended = False
        atexit.register(lambda: self._ended or self.on_multirun_end(config))

    def on_multirun_end(self, config, **kwargs) -> None:
        import pandas as pd  # only needed here

        from imdb_rnn import results

        self._ended = True
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        jobs = [results.job_summary(job, sweep_dir) for job in results.find_job_dirs(sweep_dir)[0]]
        failed = [job for job in jobs if job["status"] not in ("complete", results.WORKER)]
        summary = {"sweep_dir": str(sweep_dir), "n_jobs": len(jobs), "n_complete": len(jobs) - len(failed),
                   "n_failed": len(failed), "jobs": jobs}
        table = sweep_dir / "sweep_summary.csv"
        artifacts.write_json(sweep_dir / "sweep_summary.json", summary)
        artifacts.write_csv(table, pd.DataFrame(jobs, columns=results.SUMMARY_COLUMNS))
        sweep_failures[:] = [job["job"] for job in failed]
        log.info("sweep done: %d of %d jobs complete; summary in %s", summary["n_complete"], len(jobs), table)
        if failed:
            lines = [f"  {job['job']}: {job['status']}" + (f": {job['error']}" if job["error"] else "")
                     for job in failed[:20]]
            lines += [f"  ... and {len(failed) - 20} more"] if len(failed) > 20 else []
            print(f"imdb_rnn: {len(failed)} of {len(jobs)} jobs did not complete (see {table}):", *lines,
                  sep="\n", file=sys.stderr)
