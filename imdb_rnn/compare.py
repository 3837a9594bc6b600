"""Compare finished jobs: `python -m imdb_rnn.compare PATH [PATH ...] [--output DIR] [--baseline PATH] [--blend] [--blend-search]`.

PATHs are sweep dirs, job dirs, or glob patterns (quoted, so compare expands them); every job dir
found inside them (a dir with metrics.json or .hydra/) is read. Nothing is retrained: only the files
the jobs wrote are read (metrics.json, history.csv, [val_]predictions.csv, .hydra/overrides.yaml,
config.yaml). Writes, into --output (default: the sweep dir when one is given, else the inputs'
common parent):

  results.csv   one row per job dir: arch, bucket, losses and accuracies, best hyperparameters,
                sizes, wall times, status (complete / failed / interrupted / running / missing /
                worker / repeat / unrelated) and error;
  report.html   one self-contained interactive page (plotly.js embedded): accuracy heatmap and bars,
                validation curves, time per job, best hyperparameters, token lengths with the bucket
                edges, accuracy against review length; the seed ensembles, blends and blend search
                below, when any;
  diff.csv      with --baseline (e.g. the same sweep before a change): test accuracy per cell, both
                sides and their difference;
  ensembles.csv when a cell has several seeds: the test accuracy of their averaged probability
                (a seed ensemble), per bucket;
  blends.csv    with --blend: the accuracy of the mean probability of a bucket's cells (e.g. a GRU and
                the linear baseline), seed by seed on validation and test, then over all seeds;
  blend_search.csv  with --blend-search: every blend of a bucket's cells (each cell alone too), ranked by
                mean validation accuracy over their common seeds; `picked` marks the top one, the blend
                validation chooses. Its test accuracy is read after, never used to choose.

and prints the architecture x bucket table of test accuracy (best per bucket marked *) and what did
not complete. A job scored on several length ranges (a bucket=all job: metrics.json test_by_length) also
gets a row of its own per range in that table and the heatmap, "lstm (bucket all)", so a generalist reads
against the per-bucket jobs. Jobs that differ only in their seed share a cell: the table gives their mean
± standard deviation. Jobs whose settings differ in more than arch, bucket and seed (two sweeps with
different overrides) are told apart by those overrides ("lstm tuner=none"); the settings the jobs
resolved (config.yaml) decide, not the spelling (see results.variants). A seed run twice for one cell (a
sweep re-run into a new dir) counts once: the newer run (see results.set_aside_repeats).
"""

import argparse
import glob
import math
import os
import sys
from pathlib import Path

import pandas as pd

from imdb_rnn import artifacts
from imdb_rnn.blending import MAX_SEARCHED_CELLS, blend_search, blend_table, ensemble_table
from imdb_rnn.quiet import run_command
from imdb_rnn.results import (
    PREDICTION_COLUMNS,
    REPEAT,
    WORKER,
    CompareError,
    arch_rank,
    bucket_order,
    bucket_rank,
    cell_label,
    collect,
    is_correct,
    is_job_dir,
    read_csv,
    read_predictions,
    results_table,
    scored_by_length,
)


def accuracy_grid(table: pd.DataFrame, statistic: str = "mean") -> pd.DataFrame:
    """Test accuracy of the complete jobs, one row per arch (+ variant), one column per bucket: the
    `statistic` (mean, std or count) over the jobs of each cell (its seeds)."""
    done = table[table["status"] == "complete"].copy()
    rows = list(dict.fromkeys(cell_label(r) for _, r in table[table["architecture"] != ""].iterrows()))
    if done.empty:
        return pd.DataFrame(index=rows, columns=bucket_order(table), dtype=float)
    done["cell"] = done.apply(cell_label, axis=1)
    grid = done.pivot_table(index="cell", columns="bucket", values="test_accuracy", aggfunc=statistic)
    return grid.reindex(index=rows, columns=bucket_order(table)).astype(float)


# --- terminal output ---------------------------------------------------------------------------


def plural(n: int, noun: str) -> str:
    """'1 complete job', '2 complete jobs'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def format_blend_search(searched: pd.DataFrame, top: int = 10) -> str:
    """Per bucket, the `top` blends by mean validation accuracy, validation's pick first."""
    if searched.empty:
        return ("Blend search: none (--blend-search needs two or more cells in one bucket with a seed in common, whose "
                "jobs saved their predictions for the same validation reviews)")
    parts = []
    for bucket, rows in searched.groupby("of_bucket", sort=False):
        first = rows.iloc[0]
        heading = (f"Blend search, bucket {bucket}: {len(rows)} blends of {rows['n_cells'].max()} cells over "
                   f"{first['n_seeds']} seeds, by mean validation accuracy (%); w/t/l: the seeds where it beats, ties "
                   "or loses to its best cell; test: the models of all those seeds, read after the pick (blend_search.csv):")
        lines = [heading, f"{'':6}  {'val':>6}  {'best cell':>9}  {'w/t/l':>5}  {'test':>6}  cells"]
        for _, row in rows.head(top).iterrows():
            record = "-" if pd.isna(row["wins"]) else f"{row['wins']}/{row['ties']}/{row['losses']}"
            lines.append(f"{'picked' if row['picked'] else '':6}  {100 * row['val_accuracy']:6.2f}  "
                         f"{100 * row['best_cell_val_accuracy']:9.2f}  {record:>5}  {100 * row['test_accuracy']:6.2f}  {row['cells']}")
        margin = margin95(first["test_accuracy"], first["n_test"])  # the first row is the pick
        if pd.notna(margin):
            lines.append(f"test: {int(first['n_test']):,} reviews, whose count alone puts a 95 % margin of "
                         f"±{100 * margin:.2f} on the pick's figure")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def format_grid(table: pd.DataFrame, grid: pd.DataFrame, title: str, diff: bool = False,
                spread: pd.DataFrame | None = None) -> str:
    """A plain-text arch x bucket table; for accuracies the best of each bucket is marked *, and a cell
    with a `spread` (the std over its seeds) reads mean±std; for changes (`diff`), `spread` is their margin."""
    status = {}
    for _, row in table[(table["architecture"] != "") & (table["status"] != "complete")].iterrows():
        status.setdefault((cell_label(row), row["bucket"]), row["status"])
    best = {b: grid[b].max() for b in grid.columns} if not diff else {}
    header = ["", *grid.columns]
    ranges = {}
    for b in grid.columns:
        rows = table[table["bucket"] == b]
        lo, hi = rows["min_len"].dropna(), rows["max_len"].dropna()
        ranges[b] = f"{lo.min()}-{hi.max()}" if not lo.empty and not hi.empty else ("" if lo.empty else f"{lo.min()}-")
    lines = [header]
    if any(ranges[b] and ranges[b].replace("-", "_") != b for b in grid.columns):
        lines.append(["", *(ranges[b] for b in grid.columns)])
    for label in grid.index:
        cells = [label]
        for b in grid.columns:
            value = grid.loc[label, b]
            if pd.isna(value):
                cells.append(status.get((label, b), "-"))
            elif diff:
                margin = spread.loc[label, b] if spread is not None else math.nan
                cells.append(f"{100 * value:+.1f}" + (f"±{100 * margin:.1f}" if pd.notna(margin) else ""))
            else:
                std = spread.loc[label, b] if spread is not None else math.nan
                text = f"{100 * value:.1f}" + (f"±{100 * std:.1f}" if pd.notna(std) else "")
                cells.append(text + ("*" if value == best[b] else " "))
        lines.append(cells)
    if not diff:
        lines += margin_rows(table, best)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = [title]
    for line in lines:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        text.append("  ".join(cells))
    return "\n".join(text)


def margin95(p: float, n) -> float:
    """The 95 % margin that n test reviews alone put on an accuracy p, 1.96 * sqrt(p (1 - p) / n): how far
    p could move on as many other reviews (NaN without both). Seeds, ensembles and blends share one test
    set, so this is the part of the uncertainty their spread leaves out."""
    return 1.96 * math.sqrt(p * (1 - p) / n) if pd.notna(p) and pd.notna(n) and n > 0 else math.nan


def bucket_margins(table: pd.DataFrame, best: dict) -> dict[str, tuple[int, float] | None]:
    """Each bucket's number of test reviews and the margin95 they put on its best figure."""
    done = table[(table["status"] == "complete") & table["n_test"].notna()]
    margins = {}
    for b, p in best.items():
        n = done.loc[done["bucket"] == b, "n_test"].median()
        margin = margin95(p, n)
        margins[b] = (int(n), margin) if pd.notna(margin) else None
    return margins


def margin_rows(table: pd.DataFrame, best: dict) -> list[list[str]]:
    """The two rows under an accuracy grid: test reviews, and the 95 % margin (bucket_margins)."""
    margins = bucket_margins(table, best).values()
    return [["test reviews", *(f"{m[0]:,}" if m else "-" for m in margins)],
            ["95% margin ±", *(f"{100 * m[1]:.1f} " if m else "-" for m in margins)]]


def format_blends(blends: pd.DataFrame) -> str:
    """Per bucket blended: one row per seed (then "all"), validation accuracy against the best of its
    cells, test accuracy per range."""
    if blends.empty:
        return "Blends: none (--blend needs two or more cells in one bucket with a seed in common)"
    parts = []
    for (cells, bucket), rows in blends.groupby(["cells", "of_bucket"], sort=False):
        grid = rows.pivot_table(index="seed", columns="bucket", values="test_accuracy", sort=False).rename_axis(None) * 100
        grid.columns.name = "seed"
        val = rows[rows["bucket"] == bucket].set_index("seed")
        grid.insert(0, "val (best cell)", [
            "-" if pd.isna(val.loc[seed, "val_accuracy"]) else
            f"{100 * val.loc[seed, 'val_accuracy']:.2f} ({100 * val.loc[seed, 'best_cell_val_accuracy']:.2f})"
            for seed in grid.index])
        parts.append(f"Blend of {cells}, bucket {bucket}: accuracy (%) of the mean probability, "
                     "seed by seed; test per length range (blends.csv):\n" + grid.to_string(float_format=lambda v: f"{v:.2f}"))
    return "\n\n".join(parts)


def format_problems(table: pd.DataFrame) -> str:
    problems = table[table["status"] != "complete"]
    if problems.empty:
        return ""
    lines = [f"not complete ({len(problems)}):" if (~problems["status"].isin(["unrelated", WORKER, REPEAT])).all() else
             f"not complete, or nothing to compare ({len(problems)}):"]
    for _, row in problems.iterrows():
        what = f"{cell_label(row)} {row['bucket']}".strip() if row["architecture"] or row["bucket"] else ""
        line = f"  {row['status']:<11} {row['job_dir']}" + (f" [{what}]" if what else "")
        lines.append(line + (f": {row['error']}" if row["error"] else ""))
    return "\n".join(lines)


# --- baseline ----------------------------------------------------------------------------------


def diff_table(table: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """diff.csv: mean test accuracy per cell on both sides (complete jobs), current - baseline, and the
    95 % margin of that change over the test reviews (paired_margin)."""

    def per_cell(t):
        done = t[t["status"] == "complete"]
        return done.groupby(["architecture", "variant", "bucket"]).agg(
            min_len=("min_len", "min"), max_len=("max_len", "max"),
            test_accuracy=("test_accuracy", "mean"), n_jobs=("test_accuracy", "size"), job_dirs=("job_dir", list),
        )

    now, before = per_cell(table), per_cell(baseline)
    both = now.join(before.add_prefix("baseline_"), how="outer").reset_index()
    both["min_len"] = both["min_len"].fillna(both["baseline_min_len"])
    both["max_len"] = both["max_len"].fillna(both["baseline_max_len"])
    both["diff"] = both["test_accuracy"] - both["baseline_test_accuracy"]
    both["diff_margin95"] = [paired_margin(now_dirs, before_dirs) if pd.notna(d) else math.nan
                             for now_dirs, before_dirs, d in zip(both["job_dirs"], both["baseline_job_dirs"], both["diff"])]
    both = both[["architecture", "variant", "bucket", "min_len", "max_len", "test_accuracy", "baseline_test_accuracy",
                 "diff", "diff_margin95", "n_jobs", "baseline_n_jobs"]]
    for col in ("min_len", "max_len", "n_jobs", "baseline_n_jobs"):
        both[col] = both[col].astype("Int64")
    ranks = {"architecture": arch_rank, "bucket": bucket_rank(pd.concat([table, baseline]))}
    both = both.sort_values(["architecture", "variant", "bucket"], key=lambda s: s.map(ranks.get(s.name, lambda v: v)))
    return both.reset_index(drop=True)


def paired_margin(job_dirs: list, baseline_dirs: list) -> float:
    """The 95 % margin of a change in test accuracy from the test reviews alone, paired: each review's
    correctness now minus before (each side's averaged over its seeds), d, over the reviews both sides
    scored; 1.96 * std(d) / sqrt(n). Tighter than two separate margins, since most reviews are right (or
    wrong) on both sides. NaN when a side's predictions.csv is missing."""
    sides = []
    for dirs in (job_dirs, baseline_dirs):
        predictions = [read_predictions(Path(d)) for d in dirs]
        if any(p is None for p in predictions):
            return math.nan
        sides.append(pd.concat([is_correct(p.set_index("review_id")) for p in predictions], axis=1).mean(axis=1))
    d = (sides[0] - sides[1]).dropna()
    return 1.96 * float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else math.nan


def diff_grid(diff: pd.DataFrame, buckets: list[str], values: str = "diff") -> pd.DataFrame:
    diff = diff.assign(cell=diff.apply(cell_label, axis=1))
    grid = diff.pivot_table(index="cell", columns="bucket", values=values, aggfunc="mean", dropna=False)
    rows = list(dict.fromkeys(diff["cell"]))
    return grid.reindex(index=rows, columns=[b for b in buckets if b in set(diff["bucket"])])


# --- report ------------------------------------------------------------------------------------


def _job_label(row) -> str:
    return f"{cell_label(row)} {row['bucket']}"


def blend_grid(blends: pd.DataFrame) -> pd.DataFrame:
    """blends.csv as a grid: one row per blend and seed, one column per length range, test accuracy."""
    labelled = blends.assign(row=blends["cells"] + " (bucket " + blends["of_bucket"] + "), seed " + blends["seed"])
    grid = labelled.pivot_table(index="row", columns="bucket", values="test_accuracy", sort=False)
    return grid.reindex(columns=bucket_order(blends))


def build_report(table: pd.DataFrame, grid: pd.DataFrame, diff: pd.DataFrame | None, diff_g: pd.DataFrame | None,
                 title: str, ensemble_grid: pd.DataFrame | None, blends: pd.DataFrame | None,
                 searched: pd.DataFrame | None = None) -> str:
    from imdb_rnn import plots  # plotly: only when writing the report

    done = table[table["status"] == "complete"]
    histories, predictions = {}, []
    for _, row in done.iterrows():
        history = read_csv(Path(row["job_dir"]) / "history.csv")
        if history is not None and {"epoch", "val_accuracy"} <= set(history.columns):
            histories[_job_label(row)] = history
        preds = read_predictions(Path(row["job_dir"]))
        if preds is not None:
            predictions.append(preds.assign(cell=cell_label(row), bucket=row["bucket"]))
    predictions = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(
        columns=[*PREDICTION_COLUMNS, "cell", "bucket"])
    edges = sorted({int(v) for v in done["min_len"].dropna()} | {int(v) + 1 for v in done["max_len"].dropna()})

    figures = [
        ("accuracy-heatmap", plots.accuracy_heatmap(grid, "Test accuracy by architecture and bucket")),
        ("accuracy-bars", plots.accuracy_bars(done.assign(cell=done.apply(cell_label, axis=1)), list(grid.columns))),
    ]
    if diff_g is not None:
        figures.append(("baseline-diff", plots.accuracy_heatmap(
            diff_g, "Change in test accuracy against the baseline (percentage points)", diverging=True)))
    if ensemble_grid is not None:
        figures.append(("seed-ensembles", plots.accuracy_heatmap(
            ensemble_grid, "Seed ensembles: test accuracy of the mean probability of each cell's seeds")))
    if blends is not None and len(blends):
        figures.append(("blends", plots.accuracy_heatmap(
            blend_grid(blends), "Blends: test accuracy of the mean probability of a bucket's cells", rows="blend, seed")))
    if searched is not None and len(searched):
        figures.append(("blend-search", plots.blend_search(searched)))
    figures += [
        ("validation-curves", plots.validation_curves(histories)),
        ("job-times", plots.job_times(done.assign(job=done.apply(_job_label, axis=1)))),
        ("best-hyperparameters", plots.hyperparameter_table(done.assign(cell=done.apply(cell_label, axis=1)))),
        ("length-histogram", plots.length_histogram_with_edges(
            predictions.drop_duplicates(["review_id", "length"])["length"].to_numpy(), edges)),
        ("accuracy-by-length", plots.accuracy_by_length(predictions, edges)),
    ]
    notes = [f"{plural(len(done), 'complete job')} of {plural(int((table['status'] != 'unrelated').sum()), 'job dir')}."]
    margins = bucket_margins(table, grid.max().to_dict())
    notes += ["Test reviews per bucket, and the 95 % margin they alone put on its best figure: " + "; ".join(
        f"{b} {m[0]:,}, ±{100 * m[1]:.1f}" for b, m in margins.items() if m) + "."] if any(margins.values()) else []
    problems = table[table["status"] != "complete"]
    notes += [f"{r['status']}: {r['job_dir']}" + (f" ({r['error']})" if r["error"] else "")
              for _, r in problems.iterrows()]
    if blends is not None:
        checked = blends.dropna(subset=["val_accuracy"])
        notes += [f"Blend of {r['cells']} (bucket {r['of_bucket']}), seed {r['seed']}: validation accuracy "
                  f"{100 * r['val_accuracy']:.2f} %, best of its cells {100 * r['best_cell_val_accuracy']:.2f} %."
                  for _, r in checked.iterrows()]
    if searched is not None:
        notes += [f"Blend search, bucket {r['of_bucket']}: validation picks {r['cells']} (validation accuracy "
                  f"{100 * r['val_accuracy']:.2f} %, test {100 * r['test_accuracy']:.2f} %; blend_search.csv)."
                  for _, r in searched[searched["picked"]].iterrows()]
    if diff is not None:
        n_base = int(diff["baseline_n_jobs"].fillna(0).sum())
        notes.append(f"Baseline: {plural(n_base, 'complete job')}; diff.csv has the numbers.")
    return plots.html_page(title, [fig for _, fig in figures], div_ids=[name for name, _ in figures], notes=notes)


# --- command line ------------------------------------------------------------------------------


def default_output(paths: list[str]) -> Path:
    """The sweep dir when one non-job dir is given, else the inputs' common parent (never a job dir,
    whose own report.html must stay)."""
    resolved = [Path(os.path.expanduser(p)).resolve() for p in paths]
    resolved = [p if p.exists() else Path(os.path.commonpath(glob.glob(str(p)) or [str(p.parent)])) for p in resolved]
    out = resolved[0] if len(resolved) == 1 else Path(os.path.commonpath([str(p) for p in resolved]))
    if out.is_file():
        out = out.parent
    while is_job_dir(out) and out.parent != out:
        out = out.parent
    return out


def writable_dir(out: Path) -> None:
    """Make `out` (a read-only sweep, e.g. on shared storage, is the default): CompareError if it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompareError(f"cannot create {out} ({exc.strerror}): pass --output DIR, a dir you can write to") from None
    if not os.access(out, os.W_OK):
        raise CompareError(f"cannot write to {out}: pass --output DIR, a dir you can write to")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="imdb_rnn.compare",
        description="Compare finished imdb_rnn jobs (sweep dirs, job dirs, globs): results.csv, report.html, "
                    "a table of test accuracy. Reads the jobs' files only; never retrains.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="sweep dir, job dir or glob (quote it) of them")
    parser.add_argument("--output", "-o", metavar="DIR", help="where to write results.csv, report.html (and diff.csv); "
                        "default: the sweep dir when one is given, else the inputs' common parent")
    parser.add_argument("--baseline", metavar="PATH", help="another sweep (e.g. before a change): per-cell differences "
                        "in test accuracy go to the terminal, diff.csv and the report")
    parser.add_argument("--blend", action="store_true", help="also score the mean probability of all the cells in a "
                        "bucket (e.g. a GRU and the linear baseline), seed by seed on validation and test, and over all "
                        "seeds (blends.csv)")
    parser.add_argument("--blend-search", action="store_true", help="score every blend of a bucket's cells (each "
                        "cell alone too) on validation over the seeds they share, and mark the one validation picks: "
                        f"the highest mean validation accuracy (blend_search.csv; at most {MAX_SEARCHED_CELLS} cells a bucket)")
    args = parser.parse_args(argv)
    try:
        jobs, unrelated = collect(args.paths)
        table = results_table(jobs, unrelated)
        diff = None
        if args.baseline:
            base_jobs, base_unrelated = collect([args.baseline])
            diff = diff_table(table, results_table(base_jobs, base_unrelated))
        out = Path(args.output).expanduser() if args.output else default_output(args.paths)
        if is_job_dir(out):
            raise CompareError(f"--output {out} is a job dir (its own report.html would be overwritten)")
        searched = blend_search(table) if args.blend_search else None
        writable_dir(out)
    except CompareError as exc:
        print(f"imdb_rnn.compare: error: {exc}", file=sys.stderr)
        return 1

    by_length = scored_by_length(table)
    grid_table = pd.concat([table, by_length], ignore_index=True) if len(by_length) else table
    grid = accuracy_grid(grid_table)
    n_jobs = int((table["status"] != "unrelated").sum())
    n_done = int((table["status"] == "complete").sum())
    diff_g = None
    if diff is not None:
        diff_g = diff_grid(diff, bucket_order(pd.concat([table, diff.assign(status="complete")], ignore_index=True)))

    # Files first: a reader that stops early (`| head`) must not cost the results.
    artifacts.write_csv(out / "results.csv", table)
    written = [out / "results.csv"]
    if diff is not None:
        artifacts.write_csv(out / "diff.csv", diff)
        written.append(out / "diff.csv")
    title = f"imdb_rnn: {n_done} of {plural(n_jobs, 'job')}" + (f" ({args.paths[0]})" if len(args.paths) == 1 else "")
    ensembles = ensemble_table(table)
    ensemble_grid = accuracy_grid(ensembles).dropna(how="all") if len(ensembles) else None
    if len(ensembles):
        artifacts.write_csv(out / "ensembles.csv", ensembles)
        written.append(out / "ensembles.csv")
    blends = blend_table(table) if args.blend else None
    if blends is not None:
        artifacts.write_csv(out / "blends.csv", blends)
        written.append(out / "blends.csv")
    if searched is not None:
        artifacts.write_csv(out / "blend_search.csv", searched)
        written.append(out / "blend_search.csv")
    artifacts.write_text(out / "report.html", build_report(table, grid, diff, diff_g, title, ensemble_grid, blends, searched))
    written.append(out / "report.html")

    spread = accuracy_grid(grid_table, "std")  # NaN where a cell has one job
    heading = f"Test accuracy (%) of {plural(n_done, 'complete job')}, * = best in its bucket"
    if spread.notna().any(axis=None):
        heading += "; mean±std over the seeds of a cell"
    print(format_grid(grid_table, grid, heading + ":", spread=spread))
    if len(ensembles):
        print("\n" + format_grid(ensembles, ensemble_grid, "Seed ensembles: test accuracy (%) of the mean probability "
                                  "of each cell's seeds (ensembles.csv):"))
    if blends is not None:
        print("\n" + format_blends(blends))
    if searched is not None:
        print("\n" + format_blend_search(searched))
    problems = format_problems(table)
    if problems:
        print("\n" + problems)
    if diff is not None:
        print("\n" + format_grid(table, diff_g, f"Change in test accuracy against {args.baseline} (percentage points, "
                                 "current - baseline; ± its 95 % margin over the test reviews, paired):", diff=True,
                                 spread=diff_grid(diff, list(diff_g.columns), "diff_margin95")))
        only = diff[diff["diff"].isna()]
        for _, row in only.iterrows():
            side = "baseline" if pd.isna(row["test_accuracy"]) else "current"
            print(f"  only in {side}: {cell_label(row)} {row['bucket']}")
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    run_command(main)
