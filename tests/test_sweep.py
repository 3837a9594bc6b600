"""Sweeps: one dir per cell, failures recorded and reported, resume after a kill, parallel jobs."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import CONF_DIR, REPO, SWEEP_TINY, cli_env, wait_for
from omegaconf import OmegaConf

from imdb_rnn.__main__ import exclude_fixed_overrides

EXCLUDE = "hydra.job.config.override_dirname.exclude_keys"


def metrics(job_dir: Path) -> dict:
    return json.loads((job_dir / "metrics.json").read_text())


# --- fast: configs and job dir names -----------------------------------------------------------


def test_fixed_overrides_are_left_out_of_job_dir_names():
    args = ["-m", "arch=rnn,gru", "bucket='0_129'", "seed=1,2", "experiment=quick", "data.path=/a/b.tgz",
            "hydra.sweep.dir=/tmp/x", "hydra/launcher=joblib"]
    fixed = exclude_fixed_overrides(args, CONF_DIR)
    assert len(fixed) == len(args) + 1
    added = fixed[1]  # next to the other overrides, so Hydra's argument parser keeps them together
    assert added.startswith(EXCLUDE + "=[")
    for key in ("'arch'", "'bucket'", "'sweep'", "'experiment'", "'data.path'"):
        assert key in added
    for key in ("'seed'", "hydra"):
        assert key not in added.split("=", 1)[1]
    # Nothing fixed, or the user's own exclude_keys: left as is.
    assert exclude_fixed_overrides(["-m", "arch=rnn,gru"], CONF_DIR) == ["-m", "arch=rnn,gru"]
    own = ["-m", "seed=1,2", "tuner=none", f"{EXCLUDE}=[tuner]"]
    assert exclude_fixed_overrides(own, CONF_DIR) == own
    assert exclude_fixed_overrides(["--cfg", "job"], CONF_DIR) == ["--cfg", "job"]


def test_classic_grid_is_one_word(run_cli):
    result = run_cli("sweep=classic_grid", "--cfg", "hydra")
    assert result.returncode == 0, result.stderr
    assert "mode: MULTIRUN" in result.stdout
    assert "arch: rnn,lstm,gru" in result.stdout
    assert "0_129" in result.stdout and "598_2494" in result.stdout
    job = run_cli("sweep=classic_grid", "--cfg", "job")
    assert job.returncode == 0, job.stderr
    assert "vocab_size: 5000" in job.stdout and "kind: hyperband" in job.stdout  # experiment=classic
    quantile = run_cli("sweep=quantile_grid", "--cfg", "hydra")
    assert quantile.returncode == 0, quantile.stderr
    assert "bucket.index: 0,1,2,3,4" in quantile.stdout


# --- slow: real sweeps on the sample -------------------------------------------------------------


@pytest.mark.slow
def test_sweep_runs_every_cell_and_reports_failures(tiny_sweep):
    sweep_dir, result = tiny_sweep
    assert result.returncode == 1, result.stderr[-3000:]  # some jobs failed
    expected = {"rnn_0_129", "rnn_130_175", "gru_0_129", "gru_130_175"}
    for name in expected:
        m = metrics(sweep_dir / name)
        assert m["status"] == "complete", m
        assert m["arch"] == name.split("_")[0] and m["bucket"]["name"] == name.split("_", 1)[1]
        assert (sweep_dir / name / "model.keras").is_file()
    for name in ("rnn_q9of5", "gru_q9of5"):
        m = metrics(sweep_dir / name)
        assert m["status"] == "failed" and "bucket.index=9" in m["error"]
        assert f"{name}: failed: bucket.index=9" in result.stderr  # the short list on stderr
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert (summary["n_jobs"], summary["n_complete"], summary["n_failed"]) == (6, 4, 2)
    table = pd.read_csv(sweep_dir / "sweep_summary.csv").set_index("job")
    assert set(table.index) == expected | {"rnn_q9of5", "gru_q9of5"}
    assert table.loc["gru_q9of5", "status"] == "failed" and "out of range" in table.loc["gru_q9of5", "error"]
    assert table.loc["rnn_0_129", "test_accuracy"] == pytest.approx(metrics(sweep_dir / "rnn_0_129")["test_accuracy"])


@pytest.mark.slow
def test_killed_sweep_resumes_where_it_stopped(cache_dir, tmp_path):
    """kill -9 a sweep once one job is complete and the next is inside its tuner search; re-running it
    into the same dir keeps the complete job as it is, resumes the search and finishes the rest."""
    sweep_dir = tmp_path / "sweep"
    args = [
        sys.executable, "-m", "imdb_rnn", "-m", "arch=rnn", "bucket=quantile", "bucket.index=0,1",
        *(a for a in SWEEP_TINY if a != "tuner=none"), "tuner.max_trials=2", "tuner.epochs=1",  # quick's random search
        f"hydra.sweep.dir={sweep_dir}",
    ]
    env = cli_env(cache_dir)
    first, second = sweep_dir / "rnn_q0of5", sweep_dir / "rnn_q1of5"
    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: (metrics_or_none(first) or {}).get("status") == "complete"
                 and any((second / "tuner" / "search").glob("tuner*.json")),  # a trial of job 2 has ended
                 proc, tmp_path / "first.log", "job 1 to complete and job 2's first trial", timeout=600)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert metrics(second)["status"] == "running"
    kept = {f: (first / f).stat().st_mtime_ns for f in ("model.keras", "metrics.json", "predictions.csv")}

    rerun = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-3000:]
    assert "skipping complete job" in output and str(first) in output
    assert {f: (first / f).stat().st_mtime_ns for f in kept} == kept  # not rewritten
    assert "Reloading Tuner" in output  # Keras Tuner picked up the interrupted search
    for job in (first, second):
        assert metrics(job)["status"] == "complete"
    assert metrics(second)["n_trials"] == 2
    assert (pd.read_csv(second / "tuner_trials.csv")["status"] == "COMPLETED").all()
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert (summary["n_jobs"], summary["n_failed"]) == (2, 0)


@pytest.mark.slow
def test_resumed_sweep_warns_only_about_settings_that_changed(tiny_sweep, run_cli, tmp_path):
    """A complete job is kept on resume; a warning names the settings it ran with that differ from this
    run's. A setting the job lacks (added since) counts as its default today, so an upgrade alone is no change."""
    sweep_dir = tmp_path / "sweep"
    shutil.copytree(tiny_sweep[0] / "rnn_0_129", sweep_dir / "rnn_0_129")
    job = sweep_dir / "rnn_0_129"
    args = ["-m", "arch=rnn", "bucket=0_129", "++bucket.index=9", *SWEEP_TINY, f"hydra.sweep.dir={sweep_dir}"]

    def resume(*extra) -> str:
        result = run_cli(*args, *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        output = result.stdout + result.stderr
        assert "skipping complete job" in output
        return "".join(line for line in output.splitlines(keepends=True) if "completed with other settings" in line)

    assert resume() == ""
    # as written by an imdb_rnn before these two settings existed
    config = OmegaConf.load(job / "config.yaml")
    del config.arch["adversarial"], config.data["window_average"]
    OmegaConf.save(config, job / "config.yaml")
    assert resume() == ""
    assert "(arch.adversarial)" in resume("arch.adversarial=0.025")  # the job did without it: a change
    assert "(arch.adversarial, train.epochs)" in resume("arch.adversarial=0.025", "train.epochs=3")
    assert metrics(job)["status"] == "complete"


def metrics_or_none(job_dir: Path) -> dict | None:
    try:
        return metrics(job_dir)
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_parallel_sweep_with_joblib(run_cli, tmp_path):
    """Two jobs at once in two processes (one thread each); a swept key besides arch and bucket
    (seed) names the job dirs, fixed overrides do not."""
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "threads.intra_op=1", "threads.inter_op=1",
        "arch=gru", "bucket=130_175", "seed=1,2", *SWEEP_TINY, f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    jobs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert jobs == ["gru_130_175,seed=1", "gru_130_175,seed=2"]
    for name, seed in zip(jobs, (1, 2)):
        m = metrics(sweep_dir / name)
        assert m["status"] == "complete" and m["seed"] == seed
    assert json.loads((sweep_dir / "sweep_summary.json").read_text())["n_complete"] == 2


@pytest.mark.slow
@pytest.mark.usefixtures("ctrl_c_reaches_children")
def test_ctrl_c_stops_a_parallel_sweep_in_one_line(cache_dir, tmp_path):
    """Ctrl-C at a terminal reaches the launcher and its joblib workers at once: the sweep ends with exit
    status 130, one line saying how to go on (no traceback), and the summary of both jobs."""
    sweep_dir = tmp_path / "sweep"
    args = [
        sys.executable, "-m", "imdb_rnn", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        "threads.intra_op=1", "threads.inter_op=1", "arch=gru", "bucket=130_175", "seed=1,2", *SWEEP_TINY,
        "train.epochs=500", "train.patience=500", f"hydra.sweep.dir={sweep_dir}",
    ]
    jobs = [sweep_dir / "gru_130_175,seed=1", sweep_dir / "gru_130_175,seed=2"]
    log = tmp_path / "sweep.log"
    with log.open("w") as output:
        proc = subprocess.Popen(args, cwd=REPO, env=cli_env(cache_dir), stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group, as a terminal's job is
        try:
            wait_for(lambda: all(metrics_or_none(job) for job in jobs) and any(sweep_dir.glob("*/checkpoints/best.keras")),
                     proc, log, "both jobs to start and one to save its first epoch")
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text
    assert "imdb_rnn: error: stopped by Ctrl-C: run the same command again" in text
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert (summary["n_jobs"], summary["n_complete"]) == (2, 0)
    for job in jobs:  # interrupted, or ended by joblib before it could say so
        assert metrics(job)["status"] in ("interrupted", "running")
