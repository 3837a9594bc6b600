"""Plotly figures of one job, saved together as one self-contained HTML page (works offline).

The second half builds the figures of `python -m imdb_rnn.compare` (many jobs, see compare.py).
"""

import html
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


BASELINE = "tfidf_lr"  # the linear baseline arch (linear.py), drawn as the line to beat


def training_curves(history: pd.DataFrame) -> go.Figure:
    fig = make_subplots(rows=1, cols=3, subplot_titles=("Loss", "Accuracy", "Learning rate"))
    for col, row_col in (("loss", 1), ("val_loss", 1), ("accuracy", 2), ("val_accuracy", 2)):
        fig.add_trace(go.Scatter(x=history["epoch"], y=history[col], name=col, mode="lines+markers"), 1, row_col)
    fig.add_trace(go.Scatter(x=history["epoch"], y=history["learning_rate"], name="learning_rate"), 1, 3)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_layout(title="Retraining the best settings", height=380)
    return fig


def tuner_trials(trials: pd.DataFrame, objective: str) -> go.Figure:
    """One line per trial across its hyperparameters, coloured by its score."""
    done = trials.dropna(subset=["score"])
    params = [c for c in done.columns if c not in ("trial_id", "status", "score", "best_step") and not c.startswith("tuner_")]
    dims = [dict(label=p, values=pd.to_numeric(done[p], errors="coerce")) for p in params]
    dims.append(dict(label=objective, values=done["score"]))
    fig = go.Figure(go.Parcoords(line=dict(color=done["score"], colorscale="Viridis", showscale=True), dimensions=dims))
    fig.update_layout(title=f"Tuner trials ({len(done)} scored) by {objective}", height=380)
    return fig


def length_histogram(train_lengths: np.ndarray, test_lengths: np.ndarray, min_len: int, max_len: int) -> go.Figure:
    fig = go.Figure()
    for name, lengths in (("train", train_lengths), ("test", test_lengths)):
        fig.add_trace(go.Histogram(x=lengths, name=name, opacity=0.6, nbinsx=60))
    fig.update_layout(
        barmode="overlay",
        title=f"Token lengths in the bucket [{min_len}, {max_len}]",
        xaxis_title="tokens per review (start token included)",
        yaxis_title="reviews",
        height=380,
    )
    return fig


def html_page(title: str, figures: list[go.Figure], div_ids: list[str] | None = None, notes: list[str] | None = None) -> str:
    """One page, plotly.js embedded once. div_ids name the figures' divs (default: random ids);
    notes are lines of text shown under the title."""
    ids = div_ids or [None] * len(figures)
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=ids[i]) for i, fig in enumerate(figures)]
    body = "\n".join(f"<div>{p}</div>" for p in parts)
    intro = "".join(f"<p style='margin:2px 0'>{html.escape(line)}</p>" for line in notes or [])
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif'><h2>{html.escape(title)}</h2>{intro}{body}</body></html>"
    )


# --- comparing jobs (python -m imdb_rnn.compare) ---------------------------------------------------


def accuracy_heatmap(grid: pd.DataFrame, title: str, diverging: bool = False, rows: str = "architecture") -> go.Figure:
    """Rows (architectures) x columns (buckets) of accuracies in [0, 1], shown in %; with diverging,
    differences centred on 0 (red worse, blue better)."""
    z = grid.to_numpy(dtype=float) * 100
    text = [["" if np.isnan(v) else (f"{v:+.1f}" if diverging else f"{v:.1f}") for v in row] for row in z]
    colors = dict(colorscale="RdBu", zmid=0) if diverging else dict(colorscale="Viridis")
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in grid.columns], y=[str(i) for i in grid.index], text=text, texttemplate="%{text}",
        hovertemplate="%{y} on %{x}: %{z:.2f}<extra></extra>", colorbar=dict(title="points" if diverging else "%"),
        **colors,
    ))
    fig.update_layout(title=title, xaxis_title="bucket (token length)", yaxis_title=rows,
                      yaxis_autorange="reversed", height=max(300, 120 + 45 * len(grid.index)))
    return fig


def accuracy_bars(done: pd.DataFrame, buckets: list[str]) -> go.Figure:
    """Grouped bars: test accuracy per bucket, one bar per architecture (column `cell`); the linear
    baseline (tfidf_lr) as a dashed line across them, the line to beat."""
    fig = go.Figure()
    means = done.groupby(["cell", "bucket"], sort=False)["test_accuracy"].mean()
    for cell in dict.fromkeys(done["cell"]):
        y = [means.get((cell, b), np.nan) * 100 for b in buckets]
        if cell.startswith(BASELINE):
            fig.add_trace(go.Scatter(x=buckets, y=y, name=cell, mode="lines+markers", line={"dash": "dash", "color": "black"}))
        else:
            fig.add_trace(go.Bar(x=buckets, y=y, name=cell, text=[f"{v:.1f}" if v == v else "" for v in y]))
    fig.update_layout(barmode="group", title="Test accuracy per bucket", xaxis_title="bucket (token length)",
                      yaxis_title="test accuracy (%)", height=420)
    return fig


def blend_search(searched: pd.DataFrame) -> go.Figure:
    """Every blend of --blend-search as a point: mean validation accuracy (which picks) against test accuracy
    (read after), one colour per bucket, validation's pick circled. How far apart the top points are on
    validation shows how much the pick can be trusted."""
    fig = go.Figure()
    for bucket, rows in searched.groupby("of_bucket", sort=False):
        fig.add_trace(go.Scatter(
            x=rows["val_accuracy"] * 100, y=rows["test_accuracy"] * 100, mode="markers", name=f"bucket {bucket}",
            text=rows["cells"], hovertemplate="%{text}<br>validation %{x:.2f} %, test %{y:.2f} %<extra></extra>",
        ))
    picked = searched[searched["picked"]]
    fig.add_trace(go.Scatter(
        x=picked["val_accuracy"] * 100, y=picked["test_accuracy"] * 100, mode="markers", name="validation's pick",
        text=picked["cells"], hovertemplate="picked: %{text}<br>validation %{x:.2f} %, test %{y:.2f} %<extra></extra>",
        marker={"size": 16, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
    ))
    fig.update_layout(title="Blend search: every blend of a bucket's cells, mean validation accuracy (the pick) "
                            "against test accuracy", xaxis_title="validation accuracy, mean over seeds (%)",
                      yaxis_title="test accuracy, all seeds' models (%)", height=480)
    return fig


def validation_curves(histories: dict[str, pd.DataFrame]) -> go.Figure:
    """Every job's validation accuracy and loss per epoch of its retraining, overlaid."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Validation accuracy", "Validation loss"))
    for i, (name, history) in enumerate(histories.items()):
        color = _COLORS[i % len(_COLORS)]
        for col, (metric, show) in enumerate((("val_accuracy", True), ("val_loss", False)), start=1):
            if metric in history:
                fig.add_trace(go.Scatter(x=history["epoch"], y=history[metric], name=name, legendgroup=name,
                                         showlegend=show, mode="lines+markers", line=dict(color=color)), 1, col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=f"Validation curves of {len(histories)} job{'s' * (len(histories) != 1)} (retraining the best settings)", height=460)
    return fig


def job_times(done: pd.DataFrame) -> go.Figure:
    """Wall time of each job (column `job`), split into data, tuning, training and evaluation."""
    fig = go.Figure()
    for col in ("data_wall_s", "tuning_wall_s", "training_wall_s", "evaluation_wall_s"):
        if col in done:
            fig.add_trace(go.Bar(y=done["job"], x=done[col], name=col.removesuffix("_wall_s"), orientation="h"))
    total = done["total_wall_s"].sum() if "total_wall_s" in done else float("nan")
    fig.update_layout(barmode="stack", title=f"Time per job (total {total:,.0f} s)", xaxis_title="seconds", legend_traceorder="normal",
                      yaxis_autorange="reversed", height=max(300, 120 + 28 * len(done)))
    return fig


def _epochs(value) -> str:
    """Epochs run, blank for a job that trains no epochs (the tfidf_lr baseline)."""
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return ""


def hyperparameter_table(done: pd.DataFrame) -> go.Figure:
    """The best hyperparameters of every cell (what its tuner picked), with its scores."""
    def settings(text):
        values = json.loads(text) if text else {}
        return ", ".join(f"{k}={v}" for k, v in values.items()) or "(no search: the arch's own settings)"

    columns = {
        "architecture": done["cell"], "bucket": done["bucket"], "tuner": done["tuner"],
        "best hyperparameters": done["best_hyperparameters"].map(settings), "epochs": done["epochs_run"].map(_epochs),
        "val acc %": (done["val_accuracy"] * 100).round(2), "test acc %": (done["test_accuracy"] * 100).round(2),
    }
    fig = go.Figure(go.Table(
        columnwidth=[1, 1, 1, 4, 0.7, 0.8, 0.8],
        header=dict(values=list(columns), align="left", fill_color="lightgrey"),
        cells=dict(values=[list(v) for v in columns.values()], align="left"),
    ))
    fig.update_layout(title="Best hyperparameters per cell", height=max(300, 140 + 30 * len(done)))
    return fig


def length_histogram_with_edges(lengths: np.ndarray, edges: list[int]) -> go.Figure:
    """Token lengths of the test reviews the jobs evaluated, with the bucket edges as lines."""
    fig = go.Figure()
    if len(lengths):
        counts, bins = np.histogram(lengths, bins=min(100, max(10, len(np.unique(lengths)))))
        fig.add_trace(go.Bar(x=(bins[:-1] + bins[1:]) / 2, y=counts, width=np.diff(bins), name="test reviews",
                             hovertemplate="%{x:.0f} tokens: %{y} reviews<extra></extra>"))
    for edge in edges:
        fig.add_vline(x=edge, line_dash="dash", line_color="firebrick")
    fig.update_layout(title=f"Token lengths of the {len(lengths)} test reviews, with the bucket edges",
                      xaxis_title="tokens per review (start token included)", yaxis_title="reviews", height=380)
    return fig


def accuracy_by_length(predictions: pd.DataFrame, edges: list[int], n_bins: int = 20) -> go.Figure:
    """Accuracy of the saved test predictions against review length: equal-count length bins, one
    line per architecture (column `cell`) across all its buckets."""
    fig = go.Figure()
    if not predictions.empty:
        lengths = predictions["length"].to_numpy()
        bins = np.unique(np.quantile(lengths, np.linspace(0, 1, n_bins + 1)))
        if len(bins) < 2:
            bins = np.array([lengths.min(), lengths.max() + 1])
        binned = predictions.assign(
            correct=((predictions["probability"] >= 0.5).astype(int) == predictions["label"]).astype(float),
            bin=np.clip(np.searchsorted(bins, lengths, side="right") - 1, 0, len(bins) - 2),
        )
        for cell, group in binned.groupby("cell", sort=False):
            stats = group.groupby("bin").agg(length=("length", "median"), accuracy=("correct", "mean"), n=("correct", "size"))
            stats = stats.reindex(range(len(bins) - 1))  # bins this cell has no reviews in: a gap in its line
            fig.add_trace(go.Scatter(x=stats["length"], y=stats["accuracy"] * 100, name=cell, mode="lines+markers",
                                     customdata=stats["n"], hovertemplate="median %{x:.0f} tokens: %{y:.1f}% of %{customdata}<extra></extra>"))
    for edge in edges:
        if edge > 0:  # log axis
            fig.add_vline(x=edge, line_dash="dot", line_color="grey")
    fig.update_layout(title="Test accuracy against review length (equal-count length bins)", xaxis_type="log",
                      xaxis_title="tokens per review (median of the bin, log scale)", yaxis_title="accuracy (%)", height=420)
    return fig


_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
