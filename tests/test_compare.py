"""python -m imdb_rnn.compare: on hand-made job dirs (fast) and on a real sweep of the sample (slow)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from imdb_rnn import blending, compare

CLASSIC = ["architecture", "min_len", "max_len", "test_loss", "test_accuracy", "val_loss", "val_accuracy",
           "train_loss", "train_accuracy", "best_hyperparameters"]
FIGURES = ["accuracy-heatmap", "accuracy-bars", "validation-curves", "job-times", "best-hyperparameters",
           "length-histogram", "accuracy-by-length"]


def make_job(job_dir: Path, arch="lstm", bucket=(130, 175), acc=0.8, status="complete", overrides=(), error=None,
             seed=0, settings: dict | None = None) -> Path:
    """A job dir with the files a real job writes (metrics.json, history.csv, predictions.csv, .hydra/,
    config.yaml: a few settings, changed by the overrides and then by `settings`)."""
    job_dir.mkdir(parents=True)
    (job_dir / ".hydra").mkdir()
    name = f"{bucket[0]}_{bucket[1]}"
    (job_dir / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in [f"arch={arch}", f"bucket='{name}'", *overrides]))
    config = OmegaConf.merge(
        {"arch": {"name": arch, "ema_momentum": None}, "tuner": "hyperband", "experiment": None, "seed": seed,
         "train": {"refit": False, "refit_from": None},
         "bucket": {"name": name, "min_len": bucket[0], "max_len": bucket[1], "scheme": "fixed"}},
        OmegaConf.from_dotlist(list(overrides)), settings or {})
    OmegaConf.save(config, job_dir / "config.yaml")
    if status is None:  # killed before metrics.json
        return job_dir
    if status != "complete":
        (job_dir / "metrics.json").write_text(json.dumps({"status": status, **({"error": error} if error else {})}))
        return job_dir
    rng = np.random.default_rng(seed)
    lengths = rng.integers(bucket[0] or 1, bucket[1] + 1, 50)
    labels = rng.integers(0, 2, 50)
    probability = np.where(rng.random(50) < acc, labels, 1 - labels) * 0.8 + 0.1
    pd.DataFrame({"review_id": [f"{i}_{bucket[0]}" for i in range(50)], "length": lengths, "label": labels,
                  "probability": probability}).to_csv(job_dir / "predictions.csv", index=False)
    pd.DataFrame({"epoch": [1, 2], "loss": [0.7, 0.5], "accuracy": [0.5, 0.7], "val_loss": [0.69, 0.6],
                  "val_accuracy": [0.55, acc], "learning_rate": [1e-3, 1e-3], "epoch_time_s": [1.0, 1.0]}
                 ).to_csv(job_dir / "history.csv", index=False)
    metrics = {
        "status": "complete", "arch": arch, "seed": seed,
        "bucket": {"name": name, "min_len": bucket[0], "max_len": bucket[1], "scheme": "fixed"},
        "n_train": 400, "n_val": 100, "n_test": 50,
        "train_loss": 0.4, "train_accuracy": acc + 0.1, "val_loss": 0.5, "val_accuracy": acc + 0.01,
        "test_loss": 0.55, "test_accuracy": acc, "best_hyperparameters": {"units": 48, "dropout": 0.4},
        "tuner": "hyperband", "epochs_run": 2, "data_wall_s": 1.0, "tuning_wall_s": 10.0,
        "training_wall_s": 5.0, "evaluation_wall_s": 0.5, "total_wall_s": 16.5,
    }
    (job_dir / "metrics.json").write_text(json.dumps(metrics))
    (job_dir / "report.html").write_text("the job's own report")
    return job_dir


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A hand-made sweep: 3 archs x 2 buckets, one failed, one still running, one never started,
    and a stray dir that is not a job."""
    root = tmp_path / "sweep"
    accs = {("rnn", (0, 129)): 0.6, ("rnn", (598, 2494)): 0.55, ("lstm", (0, 129)): 0.85,
            ("lstm", (598, 2494)): 0.7, ("gru", (0, 129)): 0.83}
    for (arch, bucket), acc in accs.items():
        make_job(root / f"{arch}_{bucket[0]}_{bucket[1]}", arch, bucket, acc, overrides=["experiment=quick"])
    make_job(root / "gru_598_2494", "gru", (598, 2494), status="failed", error="bucket has 3 training reviews",
             overrides=["experiment=quick"])
    make_job(root / "gru_130_175", "gru", (130, 175), status="running", overrides=["experiment=quick"])
    make_job(root / "rnn_130_175", "rnn", (130, 175), status=None, overrides=["experiment=quick"])
    (root / "notes").mkdir()
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_results_table_report_and_terminal(sweep, capsys):
    assert compare.main([str(sweep)]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(sweep / "results.csv")  # next to the jobs: one sweep dir given
    assert list(table.columns[: len(CLASSIC)]) == CLASSIC
    for col in ("bucket", "n_train", "n_val", "n_test", "tuning_wall_s", "training_wall_s", "total_wall_s",
                "epochs_run", "status", "error", "job_dir"):
        assert col in table.columns
    row = table[table["job_dir"] == str(sweep / "lstm_0_129")].iloc[0]
    assert (row["architecture"], row["bucket"], row["min_len"], row["max_len"]) == ("lstm", "0_129", 0, 129)
    assert row["test_accuracy"] == 0.85 and row["status"] == "complete"
    assert json.loads(row["best_hyperparameters"]) == {"units": 48, "dropout": 0.4}
    status = dict(zip(table["job_dir"].map(lambda p: Path(p).name), table["status"]))
    assert status == {
        "rnn_0_129": "complete", "rnn_598_2494": "complete", "rnn_130_175": "missing",
        "lstm_0_129": "complete", "lstm_598_2494": "complete",
        "gru_0_129": "complete", "gru_130_175": "running", "gru_598_2494": "failed", "notes": "unrelated",
    }
    assert table.loc[table["status"] == "failed", "error"].item() == "bucket has 3 training reviews"

    # Terminal: archs in classic order, buckets by min_len, the best of each bucket starred.
    lines = out.splitlines()
    header = next(line for line in lines if "0_129" in line)
    assert header.split() == ["0_129", "130_175", "598_2494"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[lines.index(header) + 1:][:3]}
    assert list(rows) == ["rnn", "lstm", "gru"]
    assert rows["lstm"] == ["85.0*", "-", "70.0*"]
    assert rows["gru"] == ["83.0", "running", "failed"]
    assert rows["rnn"] == ["60.0", "missing", "55.0"]
    for name in ("gru_598_2494", "gru_130_175", "rnn_130_175", "notes"):
        assert str(sweep / name) in out
    assert "bucket has 3 training reviews" in out

    page = (sweep / "report.html").read_text()
    for div in FIGURES:
        assert f'id="{div}"' in page
    assert "Test accuracy by architecture and bucket" in page and "Best hyperparameters per cell" in page
    assert '<script src="http' not in page and len(page) > 1_000_000  # plotly.js embedded: works offline
    assert (sweep / "lstm_0_129" / "report.html").read_text() == "the job's own report"


def test_each_bucket_shows_its_test_reviews_and_their_margin(sweep, capsys):
    """Under the grid, and in the report's notes: each bucket's test reviews and the 95 % margin they put on
    its best figure, 1.96 * sqrt(p (1 - p) / n); a bucket with no complete job has neither."""
    for job in ("rnn_598_2494", "lstm_598_2494"):  # 598_2494: 1,200 test reviews, 0_129 keeps make_job's 50
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        (sweep / job / "metrics.json").write_text(json.dumps({**metrics, "n_test": 1200}))
    assert compare.main([str(sweep)]) == 0
    rows = {line.rsplit(maxsplit=3)[0]: line.split()[-3:] for line in capsys.readouterr().out.splitlines()
            if line.startswith(("test reviews", "95% margin"))}
    # the best figures: 0.85 on 0_129, 0.70 on 598_2494
    assert rows == {"test reviews": ["50", "-", "1,200"], "95% margin ±": ["9.9", "-", "2.6"]}
    assert "its best figure: 0_129 50, ±9.9; 598_2494 1,200, ±2.6." in (sweep / "report.html").read_text()


def test_baseline_differences(sweep, tmp_path, capsys):
    before = tmp_path / "before"
    make_job(before / "lstm_0_129", "lstm", (0, 129), 0.80)
    make_job(before / "lstm_598_2494", "lstm", (598, 2494), 0.75)
    make_job(before / "gru_130_175", "gru", (130, 175), 0.70)
    out_dir = tmp_path / "cmp"
    assert compare.main([str(sweep), "--baseline", str(before), "--output", str(out_dir)]) == 0
    out = capsys.readouterr().out
    diff = pd.read_csv(out_dir / "diff.csv")
    cell = diff.set_index(["architecture", "bucket"])
    assert cell.loc[("lstm", "0_129"), "diff"] == pytest.approx(0.05)
    assert cell.loc[("lstm", "598_2494"), "diff"] == pytest.approx(-0.05)
    assert np.isnan(cell.loc[("gru", "130_175"), "diff"])  # only the baseline has it complete
    assert "+5.0" in out and "-5.0" in out and "only in baseline: gru 130_175" in out
    page = (out_dir / "report.html").read_text()
    assert 'id="baseline-diff"' in page and "against the baseline" in page


def test_a_change_carries_its_paired_margin(tmp_path, capsys):
    """A change is paired over the reviews both sides scored: 100 test reviews, right on both sides except
    10 the baseline got wrong: +10.0 points, margin 1.96 * std(d) / sqrt(100) = 5.9 (d: 1 on 10 reviews, 0
    on 90). Seeds are averaged per review first. A side without its predictions has no margin."""
    labels = np.arange(100) % 2

    def predictions(job, wrong):
        correct = np.ones(100, bool)
        correct[list(wrong)] = False
        pd.DataFrame({"review_id": [f"{i}_0" for i in range(100)], "length": 50, "label": labels,
                      "probability": np.where(correct, labels, 1 - labels) * 0.8 + 0.1}).to_csv(job / "predictions.csv", index=False)

    for seed in (1, 2):  # both seeds right on every review
        predictions(make_job(tmp_path / "now" / f"gru_0_129,seed={seed}", "gru", (0, 129), 1.0, seed=seed,
                             overrides=[f"seed={seed}"]), wrong=())
    predictions(make_job(tmp_path / "before" / "gru_0_129", "gru", (0, 129), 0.9), wrong=range(10))
    make_job(tmp_path / "now" / "lstm_0_129", "lstm", (0, 129), 0.8)
    (make_job(tmp_path / "before" / "lstm_0_129", "lstm", (0, 129), 0.7) / "predictions.csv").unlink()
    assert compare.main([str(tmp_path / "now"), "--baseline", str(tmp_path / "before"), "-o", str(tmp_path / "cmp")]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.split("Change in test accuracy")[1].splitlines()
            if line.startswith(("gru", "lstm"))}
    assert rows == {"lstm": "+10.0", "gru": "+10.0±5.9"}
    diff = pd.read_csv(tmp_path / "cmp" / "diff.csv").set_index("architecture")
    assert diff.loc["gru", "diff_margin95"] == pytest.approx(1.96 * np.sqrt(0.1 * 0.9 * 100 / 99) / 10)
    assert np.isnan(diff.loc["lstm", "diff_margin95"])


def test_variants_seeds_globs_and_default_output(tmp_path, capsys):
    """Two sweeps: one over seeds (pooled into one cell), one with a fixed override; given as a glob."""
    for seed, acc in ((1, 0.70), (2, 0.72), (3, 0.74)):
        make_job(tmp_path / "a" / f"gru_0_129,seed={seed}", "gru", (0, 129), acc, overrides=[f"seed={seed}"], seed=seed)
    make_job(tmp_path / "b" / "gru_0_129", "gru", (0, 129), 0.9, overrides=["tuner=none"])
    assert compare.main([str(tmp_path / "[ab]")]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "results.csv", keep_default_na=False)  # the inputs' common parent
    assert sorted(table["variant"]) == ["", "", "", "tuner=none"]
    assert sorted(table["seed"]) == [0, 1, 2, 3]  # one row per job still
    main_table = out.split("Seed ensembles")[0]
    rows = dict(line.rsplit(maxsplit=1) for line in main_table.splitlines() if line.startswith("gru"))
    assert {label.strip(): cell for label, cell in rows.items()} == {"gru": "72.0±2.0", "gru tuner=none": "90.0*"}, out
    assert "mean±std over the seeds" in out
    # One job dir: its parent gets the files, the job's own report.html stays.
    job = tmp_path / "b" / "gru_0_129"
    assert compare.main([str(job)]) == 0
    assert (tmp_path / "b" / "results.csv").is_file() and (job / "report.html").read_text() == "the job's own report"


def test_variants_follow_the_settings_not_their_spelling(tmp_path, capsys):
    """One recipe spelled two ways is one cell; two recipes spelled alike (a default changed between
    them) are two, told apart by the setting that differs; a setting an older job's config lacks is
    read as its default (data.keep=last: no difference; arch.adversarial=0.05: one), and one that only
    the jobs of another arch lack is no difference. A sweep config with a recipe of its own is named."""
    averaged = {"arch": {"ema_momentum": 0.99}}
    make_job(tmp_path / "a1", "gru", (0, 129), 0.70, overrides=["experiment=best_gru", "seed=1"], seed=1, settings=averaged)
    make_job(tmp_path / "a2", "gru", (0, 129), 0.72, overrides=["experiment=best_gru", "seed=2", "train.refit_from=/jobs/a2"],
             seed=2, settings=averaged)  # the same recipe, its choice taken from an earlier job
    make_job(tmp_path / "a3", "gru", (0, 129), 0.74, overrides=["experiment=best_gru", "arch.ema_momentum=0.99", "seed=3"],
             seed=3, settings={**averaged, "data": {"keep": "last"}})  # a setting the others' configs lack
    make_job(tmp_path / "b1", "gru", (0, 129), 0.60, overrides=["experiment=best_gru", "seed=4"], seed=4)
    make_job(tmp_path / "g1", "gru", (0, 129), 0.80, overrides=["experiment=best_gru", "arch.adversarial=0.05", "seed=6"],
             seed=6, settings={**averaged, "arch": {"ema_momentum": 0.99, "adversarial": 0.05}})  # a setting newer than the others
    make_job(tmp_path / "c1", "gru", (0, 129), 0.90, overrides=["experiment=best_gru", "tuner=none"], settings=averaged)
    unreadable = make_job(tmp_path / "d1", "gru", (0, 129), 0.50, status="failed", overrides=["experiment=best_gru", "seed=5"])
    (unreadable / "config.yaml").write_text("arch: [unclosed\n")  # keeps its spelled variant, spoils no other
    make_job(tmp_path / "f1", "gru", (0, 129), 0.65, overrides=["experiment=best_gru", "train.refit=true",
             "train.refit_from=/jobs/b,seed=${seed}"], settings=averaged)  # an override as typed, interpolation and all
    baseline = make_job(tmp_path / "e1", "tfidf_lr", (0, 129), 0.85)
    (baseline / "config.yaml").write_text("arch:\n  name: tfidf_lr\n  C: 4\nseed: 0\n")  # no ema_momentum: not a GRU
    swept = make_job(tmp_path / "s1", "gru", (0, 129), 0.88, overrides=["sweep=best_0_129", "seed=7"], seed=7,
                     settings={"arch": {"ema_momentum": 0.99, "word_dropout": 0.2}})  # a sweep config's own recipe
    config = OmegaConf.load(swept / "config.yaml")
    config.pop("sweep")  # a group of _global_ settings: a job's config.yaml has no `sweep` key
    OmegaConf.save(config, swept / "config.yaml")
    assert compare.main([str(tmp_path), "-o", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "results.csv", keep_default_na=False)
    variant = dict(zip(table["job_dir"].map(lambda d: Path(d).name), table["variant"]))
    recipe = "experiment=best_gru"
    assert variant == {"a1": f"{recipe} [arch.ema_momentum=0.99]", "a2": f"{recipe} [arch.ema_momentum=0.99]",
                       "a3": f"{recipe} [arch.ema_momentum=0.99]", "b1": f"{recipe} [arch.ema_momentum=null]",
                       "c1": f"{recipe} tuner=none", "d1": recipe, "e1": "", "f1": f"{recipe} train.refit=true",
                       "g1": f"arch.adversarial=0.05 {recipe}", "s1": "sweep=best_0_129"}
    rows = [line.split() for line in capsys.readouterr().out.split("Seed ensembles")[0].splitlines() if line.startswith(("gru", "tfidf"))]
    assert {" ".join(r[:-1]): r[-1] for r in rows} == {
        f"gru {recipe} [arch.ema_momentum=0.99]": "72.0±2.0", f"gru {recipe} [arch.ema_momentum=null]": "60.0",
        f"gru {recipe} tuner=none": "90.0*", f"gru {recipe} train.refit=true": "65.0", "tfidf_lr": "85.0",
        f"gru arch.adversarial=0.05 {recipe}": "80.0", "gru sweep=best_0_129": "88.0"}


def test_one_data_file_typed_two_ways_is_one_cell(tmp_path, capsys):
    """data.path is read as the file the job read (metrics.json's data_source, resolved): a relative and an
    absolute path to one archive pool into one cell, named by that file; another archive is another cell.
    When every job read one file, however typed, the file names no cell."""
    for name, typed, source, seed, acc, more in (
            ("a", "../shared/imdb.tar.gz", "/work/shared/imdb.tar.gz", 1, 0.70, []),
            ("b", "/work/shared/imdb.tar.gz", "/work/shared/imdb.tar.gz", 2, 0.72, []),
            ("c", "/work/mine/imdb.tar.gz", "/work/mine/imdb.tar.gz", 3, 0.90, []),
            ("d", "../shared/imdb.tar.gz", "/work/shared/imdb.tar.gz", 4, 0.80, ["tuner=none"])):
        job = make_job(tmp_path / ("mixed" if name != "d" else "") / name, "gru", (0, 129), acc,
                       overrides=[f"data.path={typed}", f"seed={seed}", *more], seed=seed)
        metrics = json.loads((job / "metrics.json").read_text())
        (job / "metrics.json").write_text(json.dumps({**metrics, "data_source": source}))

    def cells(*paths):
        assert compare.main([*map(str, paths), "-o", str(tmp_path / "cmp")]) == 0
        rows = capsys.readouterr().out.split("Seed ensembles")[0].splitlines()
        return dict(line.rsplit(maxsplit=1) for line in rows if line.startswith("gru"))

    assert {label.strip(): cell for label, cell in cells(tmp_path / "mixed").items()} == {
        "gru data.path=/work/shared/imdb.tar.gz": "71.0±1.4", "gru data.path=/work/mine/imdb.tar.gz": "90.0*"}
    assert {label.strip(): cell for label, cell in cells(tmp_path / "mixed" / "a", tmp_path / "mixed" / "b", tmp_path / "d").items()} == {
        "gru": "71.0±1.4", "gru tuner=none": "80.0*"}


def test_a_job_that_has_not_finished_stays_in_its_cell(tmp_path, capsys):
    """A job still running (or failed, or killed) has written no data_source: its data.path, typed relative to
    the dir its command ran from (.hydra/hydra.yaml), is resolved from there, so the job is listed under its
    cell instead of making a cell of its own."""
    base = tmp_path.resolve()
    for name, status, seed in (("a", "complete", 1), ("b", "complete", 2), ("c", "running", 3)):
        job = make_job(base / "sweep" / name, "gru", (0, 129), 0.8, status, overrides=["data.path=../data/imdb.tar.gz",
                                                                                      f"seed={seed}"], seed=seed)
        OmegaConf.save({"hydra": {"runtime": {"cwd": str(base / "launch")}}}, job / ".hydra" / "hydra.yaml")
        if status == "complete":
            metrics = json.loads((job / "metrics.json").read_text())
            (job / "metrics.json").write_text(json.dumps({**metrics, "data_source": str(base / "data" / "imdb.tar.gz")}))
    assert compare.main([str(base / "sweep"), "-o", str(base / "cmp")]) == 0
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.split("Seed ensembles")[0].splitlines() if line.startswith("gru")] == [
        ["gru", "80.0±0.0*"]]
    assert f"running     {base / 'sweep' / 'c'} [gru 0_129]: metrics.json says running" in out


def test_a_distributed_search_worker_is_listed_not_compared(tmp_path, capsys):
    """A worker's job dir (trials only, metrics.json status complete) is neither a complete job nor a failure."""
    make_job(tmp_path / "chief", "gru", (0, 129), 0.8)
    worker = make_job(tmp_path / "tuner0", "gru", (0, 129), 0.8, overrides=["tuner.distributed.role=worker"])
    metrics = json.loads((worker / "metrics.json").read_text())
    (worker / "metrics.json").write_text(json.dumps({**{k: metrics[k] for k in ("status", "arch", "bucket", "seed")},
                                                     "tuner_role": "worker", "n_trials": 2}))
    assert compare.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Test accuracy (%) of 1 complete job," in out
    assert "not complete, or nothing to compare (1):" in out and "worker" in out and "chief's job dir" in out
    table = pd.read_csv(tmp_path / "results.csv")
    assert sorted(table["status"]) == ["complete", "worker"]


def test_a_seed_run_twice_counts_once(tmp_path, capsys):
    """Seed 2 of one cell run again in another sweep: the run that finished last counts (here the one in
    the earlier-named dir), in the cell's mean and its ensemble; the other is listed as a repeat."""
    for sweep, seed, acc, finished in (("a", 1, 0.70, "2026-01-01T10:00"), ("a", 2, 0.72, "2026-01-03T10:00"),
                                       ("b", 2, 0.80, "2026-01-02T10:00")):
        job = make_job(tmp_path / sweep / f"gru_0_129,seed={seed}", "gru", (0, 129), acc, overrides=[f"seed={seed}"], seed=seed)
        metrics = json.loads((job / "metrics.json").read_text())
        (job / "metrics.json").write_text(json.dumps({**metrics, "finished_at": finished}))
    assert compare.main([str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "Test accuracy (%) of 2 complete jobs" in out
    assert next(line for line in out.splitlines() if line.startswith("gru")).split()[-1] == "71.0±1.4*"
    assert f"seed 2 of this cell again; the newer run counts: {tmp_path / 'a' / 'gru_0_129,seed=2'}" in out
    table = pd.read_csv(tmp_path / "cmp" / "results.csv").set_index("job_dir")
    assert table.loc[str(tmp_path / "b" / "gru_0_129,seed=2"), "status"] == "repeat"
    assert set(pd.read_csv(tmp_path / "cmp" / "ensembles.csv")["n_models"]) == {2}


def test_windowed_jobs_are_told_apart_by_how_they_combined_their_windows(tmp_path):
    """data.window_average came after its default changed (the mean of the windows' probabilities, then of
    their log-odds): a windowed job whose config.yaml lacks it is read as its tokenizer.json says, the
    first ones' (no key there either) as probabilities. One seed made both ways is two cells, not a
    repeat; jobs of today's rule are one cell however they record it."""
    def windowed(name, seed, acc, tokenizer, setting=None):
        settings = {"data": {"window": 200, **({"window_average": setting} if setting else {})}}
        job = make_job(tmp_path / name, "gru", (598, 2494), acc, overrides=["data.window=200", f"seed={seed}"],
                       seed=seed, settings=settings)
        if tokenizer is not None:
            (job / "tokenizer.json").write_text(json.dumps({"window": 200, **tokenizer}))

    windowed("first", 1, 0.70, {})
    windowed("between", 1, 0.80, {"window_average": "log_odds"})  # the rule changed, no setting yet
    windowed("now", 2, 0.82, {"window_average": "log_odds"}, setting="log_odds")
    windowed("no_tokenizer", 3, 0.84, None)  # nothing to go by: today's default
    make_job(tmp_path / "whole", "gru", (598, 2494), 0.75, overrides=["seed=1"], seed=1)  # no windows, no rule
    assert compare.main([str(tmp_path), "-o", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "results.csv", keep_default_na=False)
    variant = dict(zip(table["job_dir"].map(lambda d: Path(d).name), table["variant"]))
    old, new = (f"data.window=200 [data.window_average={rule}]" for rule in ("probability", "log_odds"))
    assert variant == {"first": old, "between": new, "now": new, "no_tokenizer": new, "whole": ""}
    assert set(table["status"]) == {"complete"}  # seed 1 of the first rule and of the new: no repeat


def test_no_jobs_is_a_one_line_error(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    result = run_cli(str(tmp_path / "empty"), module="imdb_rnn.compare")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("imdb_rnn.compare: error:") and "no job dirs" in result.stderr
    missing = run_cli(str(tmp_path / "nowhere"), module="imdb_rnn.compare")
    assert missing.returncode == 1 and missing.stderr.startswith("imdb_rnn.compare: error:")
    assert not list(tmp_path.rglob("results.csv"))


def test_an_output_dir_that_cannot_be_written_is_a_one_line_error(sweep, tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("")
    assert compare.main([str(sweep), "--output", str(tmp_path / "a_file" / "report")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("imdb_rnn.compare: error: cannot create") and "pass --output DIR" in err and err.count("\n") == 1
    # A sweep on read-only storage (someone else's, say): its own dir is the default output.
    monkeypatch.setattr(compare.os, "access", lambda path, mode: Path(path) != sweep)
    assert compare.main([str(sweep)]) == 1
    assert capsys.readouterr().err == f"imdb_rnn.compare: error: cannot write to {sweep}: pass --output DIR, a dir you can write to\n"
    assert not list(tmp_path.rglob("results.csv"))
    monkeypatch.undo()
    assert compare.main([str(sweep)]) == 0 and (sweep / "results.csv").exists()


@pytest.mark.slow
def test_compare_a_real_sweep(tiny_sweep, run_cli, tmp_path):
    sweep_dir, _ = tiny_sweep
    out_dir = tmp_path / "cmp"
    result = run_cli(str(sweep_dir), "--output", str(out_dir), "--blend-search", module="imdb_rnn.compare")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(out_dir / "results.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns[: len(CLASSIC)]) == CLASSIC
    jobs = {Path(p).name: row for p, (_, row) in zip(table["job_dir"], table.iterrows())}
    assert set(jobs) == {"rnn_0_129", "rnn_130_175", "gru_0_129", "gru_130_175", "rnn_q9of5", "gru_q9of5"}
    for name, row in jobs.items():
        metrics = json.loads((sweep_dir / name / "metrics.json").read_text())
        assert row["status"] == metrics["status"]
        if metrics["status"] != "complete":
            assert row["error"] == metrics["error"] and row["architecture"] == name.split("_")[0]
            assert row["bucket"] == "q9of5"
            continue
        assert row["architecture"] == metrics["arch"] and row["bucket"] == metrics["bucket"]["name"]
        assert (row["min_len"], row["max_len"]) == (metrics["bucket"]["min_len"], metrics["bucket"]["max_len"])
        for key in ("test_loss", "test_accuracy", "val_loss", "val_accuracy", "train_loss", "train_accuracy",
                    "n_train", "n_val", "n_test", "tuning_wall_s", "training_wall_s", "total_wall_s", "epochs_run"):
            assert row[key] == pytest.approx(metrics[key]), key
        assert json.loads(row["best_hyperparameters"]) == metrics["best_hyperparameters"]
    out = result.stdout
    assert "rnn_q9of5" in out and "gru_q9of5" in out and "failed" in out
    header = next(line for line in out.splitlines() if "0_129" in line)
    assert header.split() == ["0_129", "130_175", "q9of5"]
    page = (out_dir / "report.html").read_text()
    for div in FIGURES:
        assert f'id="{div}"' in page
    assert "Validation curves of 4 jobs" in page
    # the blend search: each cell alone scores as its job did (from the predictions the jobs saved)
    found = pd.read_csv(out_dir / "blend_search.csv")
    assert sorted(found["cells"]) == sorted(["rnn", "gru", "rnn + gru"] * 2) and found["picked"].sum() == 2
    for row in found[found["n_cells"] == 1].itertuples():
        job = jobs[f"{row.cells}_{row.of_bucket}"]
        assert (row.val_accuracy, row.test_accuracy) == (pytest.approx(job["val_accuracy"]), pytest.approx(job["test_accuracy"]))
    assert 'id="blend-search"' in page


def test_a_bucket_all_job_is_also_scored_per_length_range(sweep, capsys):
    """A generalist (bucket=all) job's test_by_length gives it a row of its own in the arch x bucket table."""
    job = make_job(sweep / "lstm_all", "lstm", (0, 2494), 0.9, overrides=["experiment=quick"])
    metrics = json.loads((job / "metrics.json").read_text())
    metrics["bucket"] = {"name": "all", "min_len": 0, "max_len": None, "scheme": "fixed"}
    metrics["test_by_length"] = {"0_129": {"reviews": 30, "accuracy": 0.91}, "598_2494": {"reviews": 20, "accuracy": 0.88}}
    (job / "metrics.json").write_text(json.dumps(metrics))
    assert compare.main([str(sweep)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "0_129" in line)
    assert header.split() == ["0_129", "130_175", "598_2494", "all"]
    generalist = next(line for line in lines if line.startswith("lstm (bucket all)"))
    assert generalist.split()[3:] == ["91.0*", "-", "88.0*", "-"]
    plain = next(line for line in lines if line.startswith("lstm "))
    assert plain.split()[1:] == ["85.0", "-", "70.0", "90.0*"]
    table = pd.read_csv(sweep / "results.csv")  # still one row per job dir
    assert len(table[table["job_dir"] == str(job)]) == 1
    assert json.loads(table.loc[table["job_dir"] == str(job), "test_by_length"].item())["0_129"]["accuracy"] == 0.91
    # a test_by_length that imdb_rnn did not write is ignored, not a crash
    metrics["test_by_length"] = {"short": {"accuracy": 0.5}, "598_2494": [1, 2]}
    (job / "metrics.json").write_text(json.dumps(metrics))
    assert compare.main([str(sweep)]) == 0
    assert "(bucket all)" not in capsys.readouterr().out


def test_seed_ensembles_score_the_mean_probability(tmp_path, capsys):
    """Three seeds, each right on 2 of 4 reviews, whose mean probability is right on all 4; a generalist's
    ensemble is also scored per length range. A cell with one job has no ensemble."""
    labels, lengths = [1, 1, 1, 0], [50, 60, 700, 800]
    for seed, probability in ((1, [0.9, 0.4, 0.4, 0.1]), (2, [0.4, 0.9, 0.4, 0.1]), (3, [0.4, 0.4, 0.9, 0.1])):
        job = make_job(tmp_path / "s" / f"gru_all,seed={seed}", "gru", (0, 2494), 0.5, overrides=[f"seed={seed}"], seed=seed)
        pd.DataFrame({"review_id": ["a", "b", "c", "d"], "length": lengths, "label": labels,
                      "probability": probability}).to_csv(job / "predictions.csv", index=False)
        metrics = json.loads((job / "metrics.json").read_text())
        metrics["bucket"] = {"name": "all", "min_len": 0, "max_len": None, "scheme": "fixed"}
        metrics["test_by_length"] = {"0_129": {"reviews": 2, "accuracy": 0.5}, "598_2494": {"reviews": 2, "accuracy": 0.5}}
        (job / "metrics.json").write_text(json.dumps(metrics))
    make_job(tmp_path / "s" / "lstm_0_129", "lstm", (0, 129), 0.8)
    assert compare.main([str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    ensembles = pd.read_csv(tmp_path / "s" / "ensembles.csv", keep_default_na=False)
    assert list(ensembles["architecture"]) == ["gru"] * 3 and set(ensembles["n_models"]) == {3}
    assert dict(zip(ensembles["bucket"], ensembles["test_accuracy"])) == {"all": 1.0, "0_129": 1.0, "598_2494": 1.0}
    assert dict(zip(ensembles["bucket"], ensembles["n_test"])) == {"all": 4, "0_129": 2, "598_2494": 2}
    printed = out.split("Seed ensembles")[1].splitlines()
    assert next(line for line in printed if line.startswith("gru (bucket all)")).split()[3:] == ["100.0*", "100.0*", "-"]
    assert not any(line.startswith("lstm") for line in printed)
    assert 'id="seed-ensembles"' in (tmp_path / "s" / "report.html").read_text()


def test_blends_average_the_cells_of_a_bucket_seed_by_seed(tmp_path, capsys):
    """--blend: a GRU and the linear baseline on the same reviews, each right on 3 of 4 and sure only
    where right, blend to 4 of 4, on validation (per seed, the reviews both held out) and on test, also
    per length range; a seed only one cell has is not blended."""
    labels, lengths = [1, 1, 0, 0], [50, 60, 700, 800]
    sure_but_one_wrong = {"gru": [0.9, 0.4, 0.1, 0.1], "tfidf_lr": [0.9, 0.9, 0.6, 0.1]}  # wrong on b / on c, unsure
    for arch, seeds in (("gru", (1, 2, 3)), ("tfidf_lr", (1, 2))):
        for seed in seeds:
            job = make_job(tmp_path / "s" / f"{arch},seed={seed}", arch, (0, 2494), 0.5, overrides=[f"seed={seed}"], seed=seed)
            for name, ids in (("predictions.csv", "abcd"), ("val_predictions.csv", "wxyz")):
                pd.DataFrame({"review_id": list(ids), "length": lengths, "label": labels,
                              "probability": sure_but_one_wrong[arch]}).to_csv(job / name, index=False)
            metrics = json.loads((job / "metrics.json").read_text())
            metrics["bucket"] = {"name": "all", "min_len": 0, "max_len": None, "scheme": "fixed"}
            metrics["test_by_length"] = {"0_129": {"reviews": 2, "accuracy": 0.5}, "598_2494": {"reviews": 2, "accuracy": 0.5}}
            metrics["val_accuracy"], metrics["n_val"] = 0.75, 4
            (job / "metrics.json").write_text(json.dumps(metrics))
    assert compare.main([str(tmp_path / "s"), "--blend"]) == 0
    out = capsys.readouterr().out
    blends = pd.read_csv(tmp_path / "s" / "blends.csv", dtype={"seed": str})
    assert set(blends["cells"]) == {"gru + tfidf_lr"} and set(blends["of_bucket"]) == {"all"}
    assert list(blends["seed"].unique()) == ["1", "2", "all"]  # seed 3: the GRU's only
    assert (blends["test_accuracy"] == 1.0).all() and set(blends["n_models"]) == {2, 4}
    own = blends[blends["bucket"] == "all"].set_index("seed")
    assert list(own.loc[["1", "2"], "val_accuracy"]) == [1.0, 1.0] and list(own.loc[["1", "2"], "n_val"]) == [4, 4]
    assert list(own.loc[["1", "2"], "best_cell_val_accuracy"]) == [0.75, 0.75] and pd.isna(own.loc["all", "val_accuracy"])
    assert set(blends.loc[blends["bucket"] != "all", "bucket"]) == {"0_129", "598_2494"}
    table = out.split("Blend of gru + tfidf_lr, bucket all")[1].splitlines()
    assert table[1].split() == ["seed", "val", "(best", "cell)", "all", "0_129", "598_2494"]
    assert table[2].split() == ["1", "100.00", "(75.00)", "100.00", "100.00", "100.00"]
    assert table[4].split() == ["all", "-", "100.00", "100.00", "100.00"]
    page = (tmp_path / "s" / "report.html").read_text()
    assert 'id="blends"' in page and "gru + tfidf_lr (bucket all), seed all" in page
    assert "seed 1: validation accuracy 100.00 %, best of its cells 75.00 %" in page
    # jobs of one seed that held out different reviews have no validation score in common
    val = pd.read_csv(tmp_path / "s" / "tfidf_lr,seed=2" / "val_predictions.csv")
    val.assign(review_id=list("pqrs")).to_csv(tmp_path / "s" / "tfidf_lr,seed=2" / "val_predictions.csv", index=False)
    assert compare.main([str(tmp_path / "s"), "--blend"]) == 0
    own = pd.read_csv(tmp_path / "s" / "blends.csv", dtype={"seed": str}).query("bucket == 'all'").set_index("seed")
    assert own.loc["1", "val_accuracy"] == 1.0 and pd.isna(own.loc["2", "val_accuracy"]) and own.loc["2", "test_accuracy"] == 1.0
    printed = capsys.readouterr().out.split("Blend of")[1].splitlines()
    assert next(line for line in printed if line.startswith("2 ")).split()[:2] == ["2", "-"]
    # without --blend, nothing of the kind
    assert compare.main([str(tmp_path / "s")]) == 0
    assert "Blend of" not in capsys.readouterr().out
    assert 'id="blends"' not in (tmp_path / "s" / "report.html").read_text()


def test_blend_search_picks_on_validation_alone(tmp_path, capsys, monkeypatch):
    """--blend-search: three cells, each right on 3 of 4 validation reviews. GRU + LSTM and all three are
    right on 4 of 4, with both seeds; validation picks the one of fewer cells, although on test the
    baseline alone does better: test is read after the pick, never used for it."""
    labels, lengths = [1, 1, 0, 0], [130, 140, 150, 160]
    val = {"gru": [0.9, 0.4, 0.1, 0.1], "lstm": [0.9, 0.9, 0.6, 0.1], "tfidf_lr": [0.4, 0.6, 0.45, 0.3]}
    test = {"gru": [0.9, 0.4, 0.1, 0.1], "lstm": [0.9, 0.3, 0.6, 0.1], "tfidf_lr": [0.9, 0.9, 0.1, 0.1]}
    for arch, seeds in (("gru", (1, 2, 3)), ("lstm", (1, 2)), ("tfidf_lr", (1, 2))):
        for seed in seeds:
            job = make_job(tmp_path / "s" / f"{arch},seed={seed}", arch, (130, 175), 0.75, overrides=[f"seed={seed}"], seed=seed)
            for name, ids, probability in (("predictions.csv", "abcd", test[arch]), ("val_predictions.csv", "wxyz", val[arch])):
                pd.DataFrame({"review_id": list(ids), "length": lengths, "label": labels,
                              "probability": probability}).to_csv(job / name, index=False)
            metrics = json.loads((job / "metrics.json").read_text())
            (job / "metrics.json").write_text(json.dumps({**metrics, "n_val": 4}))
    assert compare.main([str(tmp_path / "s"), "--blend-search"]) == 0
    out = capsys.readouterr().out
    found = pd.read_csv(tmp_path / "s" / "blend_search.csv")
    assert len(found) == 7 and set(found["n_seeds"]) == {2} and set(found["n_val"]) == {4}  # seed 3: the GRU's only
    by_cells = {frozenset(row.cells.split(" + ")): row for row in found.itertuples()}
    picked = found[found["picked"]]
    assert len(picked) == 1 and set(picked["cells"].item().split(" + ")) == {"gru", "lstm"}
    assert by_cells[frozenset({"gru", "lstm", "tfidf_lr"})].val_accuracy == 1.0  # as high, but more cells
    pair = by_cells[frozenset({"gru", "lstm"})]
    assert (pair.val_accuracy, pair.best_cell_val_accuracy, pair.wins, pair.ties, pair.losses) == (1.0, 0.75, 2, 0, 0)
    assert pair.test_accuracy == 0.75  # both wrong on b: the pick is worse on test than the baseline alone
    alone = by_cells[frozenset({"tfidf_lr"})]
    assert (alone.val_accuracy, alone.test_accuracy) == (0.75, 1.0) and pd.isna(alone.wins)
    other = by_cells[frozenset({"gru", "tfidf_lr"})]
    assert (other.val_accuracy, other.wins, other.ties, other.losses) == (0.75, 0, 2, 0)
    lines = out.split("Blend search, bucket 130_175: 7 blends of 3 cells over 2 seeds")[1].splitlines()
    assert lines[2].split()[:5] == ["picked", "100.00", "75.00", "2/0/0", "75.00"]
    # and how little 4 test reviews can tell: 1.96 * sqrt(0.75 * 0.25 / 4)
    assert lines[9] == "test: 4 reviews, whose count alone puts a 95 % margin of ±42.44 on the pick's figure"
    page = (tmp_path / "s" / "report.html").read_text()
    assert 'id="blend-search"' in page and "Blend search, bucket 130_175: validation picks" in page
    # a seed whose jobs held out different reviews has no validation in common: no search, no pick
    shifted = pd.read_csv(tmp_path / "s" / "lstm,seed=2" / "val_predictions.csv").assign(review_id=list("pqrs"))
    shifted.to_csv(tmp_path / "s" / "lstm,seed=2" / "val_predictions.csv", index=False)
    assert compare.main([str(tmp_path / "s"), "--blend-search"]) == 0
    assert pd.read_csv(tmp_path / "s" / "blend_search.csv").empty and "Blend search: none" in capsys.readouterr().out
    # a bucket with more cells than the search takes is a one-line error, before anything is written
    monkeypatch.setattr(blending, "MAX_SEARCHED_CELLS", 2)
    (tmp_path / "s" / "blend_search.csv").unlink()
    assert compare.main([str(tmp_path / "s"), "--blend-search"]) == 1
    assert "bucket 130_175 has 3: compare fewer sweeps" in capsys.readouterr().err
    assert not (tmp_path / "s" / "blend_search.csv").exists()
