"""Plotly figures of one job, saved together as one self-contained HTML page (works offline)."""

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


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


def html_page(title: str, figures: list[go.Figure]) -> str:
    """One page, plotly.js embedded once."""
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures)]
    body = "\n".join(f"<div>{p}</div>" for p in parts)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif'><h2>{html.escape(title)}</h2>{body}</body></html>"
    )
