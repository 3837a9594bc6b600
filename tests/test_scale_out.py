"""Scaling out: sweeps through other Hydra launchers (submitit local / SLURM) and Keras Tuner's
distributed search (a chief and workers sharing one tuner directory)."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import CONF_DIR, REPO, SWEEP_TINY, cli_env
from omegaconf import OmegaConf

from imdb_rnn import compare

needs_submitit = pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
                                    reason="hydra-submitit-launcher is not installed: pip install '.[cluster]'")

# What the basic launcher's tiny_sweep ran (conftest.py): rnn,gru x 0_129,130_175 plus 2 failing cells.
TINY_SWEEP_ARGS = ["-m", "arch=rnn,gru", "bucket=0_129,130_175,quantile", "++bucket.index=9", *SWEEP_TINY]
COMPARED = ["architecture", "bucket", "min_len", "max_len", "test_loss", "test_accuracy", "val_loss", "val_accuracy",
            "train_loss", "train_accuracy", "best_hyperparameters", "n_train", "n_val", "n_test", "epochs_run",
            "status", "error"]


def metrics(job_dir: Path) -> dict:
    return json.loads((job_dir / "metrics.json").read_text())


def results(sweep_dir: Path) -> pd.DataFrame:
    from imdb_rnn.results import collect, results_table

    table = results_table(*collect([str(sweep_dir)]))
    table["job"] = [Path(d).name for d in table["job_dir"]]
    return table.set_index("job").sort_index()[COMPARED]


# --- fast: the launcher configs compose -----------------------------------------------------------


@needs_submitit
def test_slurm_launcher_config_composes(run_cli):
    result = run_cli("sweep=classic_grid", "hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                     "hydra.launcher.mem_gb=32", "--cfg", "hydra", env={"IMDB_RNN_OUTPUTS": "/shared/me/imdb_rnn"})
    assert result.returncode == 0, result.stderr
    hydra_cfg = OmegaConf.to_container(OmegaConf.create(result.stdout))["hydra"]  # interpolations as written
    launcher = hydra_cfg["launcher"]
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert [launcher[k] for k in ("partition", "mem_gb", "timeout_min", "cpus_per_task")] == ["gpu", 32, 240, 4]
    assert launcher["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"
    assert hydra_cfg["sweep"]["dir"].startswith("${oc.env:IMDB_RNN_OUTPUTS,outputs}/multiruns/")
    assert hydra_cfg["mode"] == "MULTIRUN" and hydra_cfg["sweeper"]["params"]["arch"] == "rnn,lstm,gru"
    swept = run_cli("hydra/launcher=slurm", "--cfg", "hydra", "--resolve", "-p", "hydra.sweep.dir",
                    env={"IMDB_RNN_OUTPUTS": "/shared/me/imdb_rnn"})
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.strip().startswith("/shared/me/imdb_rnn/multiruns/")


@needs_submitit
def test_other_launchers_still_compose(run_cli):
    """conf/hydra/launcher/ holds only slurm.yaml: the plugins' own options must stay reachable."""
    for launcher, target in (("joblib", "JoblibLauncher"), ("submitit_local", "LocalLauncher"), ("basic", "BasicLauncher")):
        result = run_cli(f"hydra/launcher={launcher}", "--cfg", "hydra", "-p", "hydra.launcher")
        assert result.returncode == 0, result.stderr
        assert target in result.stdout
    unknown = run_cli("hydra/launcher=slurmm", "--cfg", "hydra")
    assert unknown.returncode != 0 and "slurmm" in unknown.stderr


@needs_submitit
def test_slurm_launcher_builds_a_valid_sbatch_script(tmp_path, monkeypatch):
    """Without a cluster: hand the composed config to the real plugin and submitit, up to the sbatch
    script they would submit (submitit only wants an `srun` on the PATH to believe it is on SLURM)."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    import imdb_rnn.cli  # noqa: F401 - registers the config's resolvers

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True, overrides=[
            "hydra/launcher=slurm", "hydra.launcher.partition=cpu", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "hydra.launcher.setup=[source /shared/venv/bin/activate]"])
    HydraConfig.instance().set_config(cfg)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg

    class Submitted(Exception):
        pass

    def no_submission(executor, *args):
        raise Submitted(executor)

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", no_submission)
    with pytest.raises(Submitted) as submitted:
        launcher.launch([["arch=rnn"], ["arch=gru"]], initial_job_idx=0)
    executor = submitted.value.args[0]._executor
    assert type(executor).__name__ == "SlurmExecutor"
    assert executor.parameters["array_parallelism"] == 64
    script = executor._make_submission_file_text("python -m imdb_rnn", "uid")
    for line in ("#SBATCH --partition=cpu", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16GB", "#SBATCH --time=240",
                 f"#SBATCH --output={tmp_path / 'sweep'}/.submitit/%j/", "source /shared/venv/bin/activate"):
        assert line in script, script
    assert "gpus" not in script  # gpus_per_node: null asks for none


# --- fast: distributed tuning settings -----------------------------------------------------------


def test_every_tuner_has_the_same_distributed_settings():
    blocks = {name: OmegaConf.load(CONF_DIR / "tuner" / f"{name}.yaml") for name in ("random", "bayesian", "hyperband")}
    for cfg in blocks.values():
        assert cfg.directory is None
        assert OmegaConf.to_container(cfg.distributed) == OmegaConf.to_container(blocks["random"].distributed)
    assert blocks["random"].distributed.role is None


def test_distributed_settings_map_to_keras_tuner_env(monkeypatch):
    from imdb_rnn import UserError
    from imdb_rnn.checks import distributed_env
    from imdb_rnn.tuning import keras_tuner_env

    def tuner(**dist):
        base = {"role": None, "oracle_ip": "127.0.0.1", "oracle_port": 8000, "tuner_id": None}
        return OmegaConf.create({"kind": "random", "directory": dist.pop("directory", "/shared/t"),
                                 "distributed": {**base, **dist}})

    assert distributed_env(tuner()) == {}
    assert distributed_env(tuner(role="chief", oracle_ip="0.0.0.0")) == {
        "KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "0.0.0.0", "KERASTUNER_ORACLE_PORT": "8000"}
    assert distributed_env(tuner(role="worker", tuner_id="tuner1", oracle_ip="node7"))["KERASTUNER_TUNER_ID"] == "tuner1"
    for bad, words in [
        (tuner(role="boss"), "use chief, worker or null"),
        (tuner(role="worker", tuner_id="tuner0", directory=None), "needs tuner.directory"),
        (tuner(role="worker"), "needs tuner.distributed.tuner_id"),
        (tuner(role="worker", tuner_id="chief2"), "a worker's must not"),
        (tuner(role="chief", tuner_id="boss"), "a chief's id must contain 'chief'"),
        (tuner(role="worker", tuner_id="tuner0", oracle_port=None), "oracle_ip and oracle_port"),
    ]:
        with pytest.raises(UserError, match=words):
            distributed_env(bad)

    # Set for the search only; variables set by hand do not leak into it, and come back afterwards.
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "10.0.0.1")
    with keras_tuner_env(tuner(role="worker", tuner_id="tuner0")):
        assert (os.environ["KERASTUNER_TUNER_ID"], os.environ["KERASTUNER_ORACLE_IP"]) == ("tuner0", "127.0.0.1")
    with keras_tuner_env(tuner()):
        assert not {"KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"} & set(os.environ)
    assert os.environ["KERASTUNER_ORACLE_IP"] == "10.0.0.1" and "KERASTUNER_TUNER_ID" not in os.environ


def test_bad_distributed_settings_fail_in_one_line(run_cli, tmp_path):
    result = run_cli("experiment=quick", "tuner.distributed.role=worker", f"hydra.run.dir={tmp_path / 'job'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "imdb_rnn: error: tuner.distributed.role=worker needs tuner.directory")
    assert metrics(tmp_path / "job")["status"] == "failed"


# --- slow: real sweeps and a real distributed search ---------------------------------------------


@pytest.mark.slow
@needs_submitit
def test_submitit_local_sweep_matches_the_basic_launcher(tiny_sweep, run_cli, tmp_path):
    """The tiny sweep again, each job in its own submitit process: the same job dirs with the same
    metrics, the same failures reported (summary + exit 1), and a re-run skips the complete jobs."""
    basic_dir, _ = tiny_sweep
    sweep_dir = tmp_path / "sweep"
    result = run_cli(*TINY_SWEEP_ARGS, "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in result.stderr + result.stdout
    assert "imdb_rnn: 2 of 6 jobs did not complete" in result.stderr
    assert "gru_q9of5: failed: bucket.index=9 is out of range" in result.stderr
    assert any((sweep_dir / ".submitit").iterdir())  # the jobs' own logs
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert (summary["n_jobs"], summary["n_complete"], summary["n_failed"]) == (6, 4, 2)
    pd.testing.assert_frame_equal(results(sweep_dir), results(basic_dir))  # seeded, deterministic jobs
    assert len(results(sweep_dir).query("status == 'complete'")) == 4

    kept = {job: (sweep_dir / job / "model.keras").stat().st_mtime_ns for job in ("rnn_0_129", "gru_130_175")}
    rerun = run_cli(*TINY_SWEEP_ARGS, "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep_dir}")
    assert rerun.returncode == 1 and "imdb_rnn: 2 of 6 jobs did not complete" in rerun.stderr
    assert {job: (sweep_dir / job / "model.keras").stat().st_mtime_ns for job in kept} == kept
    assert "skipping complete job" in (sweep_dir / "rnn_0_129" / "imdb_rnn.log").read_text()


@pytest.mark.slow
@needs_submitit
def test_submitit_job_killed_mid_run_is_reported(cache_dir, tmp_path):
    """kill -9 one submitit job while it trains (as a SLURM timeout or the OOM killer would): submitit
    raises in the sweep's process and Hydra skips on_multirun_end, yet the sweep exits 1 with a summary."""
    sweep_dir = tmp_path / "sweep"
    victim = sweep_dir / "rnn_0_129,train.epochs=200"
    args = [sys.executable, "-m", "imdb_rnn", "-m", "hydra/launcher=submitit_local", "arch=rnn", "bucket=0_129",
            *(a for a in SWEEP_TINY if not a.startswith("train.epochs")), "train.epochs=1,200", "train.patience=200",
            f"hydra.sweep.dir={sweep_dir}"]
    env = cli_env(cache_dir)
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not ((victim / "history.csv").exists() or (victim / "tensorboard").exists()):  # it is training
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "timed out waiting for the job to train"
            time.sleep(0.2)
        # The job's process is the child of submitit's controller, whose pid is the job id Hydra recorded.
        controller = OmegaConf.load(victim / ".hydra" / "hydra.yaml").hydra.job.id
        children = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
        assert children, f"no job process under submitit controller {controller}"
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, stderr[-3000:]
    assert "imdb_rnn: 1 of 2 jobs did not complete" in stderr, stderr[-3000:]
    assert "rnn_0_129,train.epochs=200: running" in stderr
    table = pd.read_csv(sweep_dir / "sweep_summary.csv").set_index("job")
    assert table.loc["rnn_0_129,train.epochs=1", "status"] == "complete"
    assert table.loc["rnn_0_129,train.epochs=200", "status"] == "running"


@pytest.mark.slow
def test_distributed_search_chief_and_two_workers(cache_dir, tmp_path):
    """scripts/distributed_tuning_demo.py: a chief and 2 workers on localhost finish a 4-trial search in
    one shared tuner dir; the workers split the trials, the chief's job dir holds the result."""
    out = tmp_path / "demo"
    env = cli_env(cache_dir)
    result = subprocess.run([sys.executable, "scripts/distributed_tuning_demo.py", "--out", str(out), "--timeout", "600"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "tuner0 ran" in result.stdout and "tuner1 ran" in result.stdout

    chief = metrics(out / "chief")
    assert chief["status"] == "complete" and chief["tuner_role"] == "chief" and chief["n_trials"] == 4
    trials = pd.read_csv(out / "chief" / "tuner_trials.csv", dtype={"trial_id": str})
    assert len(trials) == 4 and (trials["status"] == "COMPLETED").all()
    best = trials.loc[trials["score"].idxmax()]
    assert all(best[k] == v for k, v in chief["best_hyperparameters"].items())  # the chief retrained the best trial
    assert (out / "chief" / "model.keras").is_file() and not (out / "chief" / "tuner").exists()

    ran = {}
    for worker in ("tuner0", "tuner1"):
        m = metrics(out / worker)
        assert (m["status"], m["tuner_role"], m["tuner_id"]) == ("complete", "worker", worker)
        assert not (out / worker / "model.keras").exists()  # workers only run trials
        ran[worker] = set(m["trials"])
        assert ran[worker], f"{worker} ran no trial"
        mine = pd.read_csv(out / worker / "tuner_trials.csv", dtype={"trial_id": str}).set_index("trial_id")
        assert set(mine.index) == ran[worker]
        assert mine["score"].to_dict() == pytest.approx(trials.set_index("trial_id").loc[list(mine.index), "score"].to_dict())
    assert ran["tuner0"] | ran["tuner1"] == set(trials["trial_id"]) and not ran["tuner0"] & ran["tuner1"]
    # compare: the chief is the one job with results; the workers are listed as such, not as complete jobs
    assert compare.main([str(out), "-o", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "results.csv")
    status = dict(zip(table["job_dir"].map(lambda d: Path(d).name), table["status"]))
    assert {k: v for k, v in status.items() if k in ("chief", "tuner0", "tuner1")} == {
        "chief": "complete", "tuner0": "worker", "tuner1": "worker"}
    project = out / "shared_tuner" / "search"
    assert {p.name for p in project.glob("*.json")} >= {"oracle.json", "chief.json", "tuner0.json", "tuner1.json"}
    assert len(list(project.glob("trial_*"))) == 4
