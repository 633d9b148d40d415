"""Frame- and event-level metrics for multi-label detectors (numpy only)."""

from __future__ import annotations

import numpy as np


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the precision-recall curve (the mean precision at each positive); nan if no positive."""
    truth = truth.astype(bool)
    positives = int(truth.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = truth[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].sum() / positives)


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    pred, truth = pred.astype(bool), truth.astype(bool)
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def best_thresholds(scores: np.ndarray, truth: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per label, the threshold (on a 0.02 grid) that maximises F1; `default` for labels never present."""
    grid = np.arange(0.02, 0.99, 0.02)
    out = np.full(scores.shape[1], default, dtype=np.float64)
    for k in range(scores.shape[1]):
        if truth[:, k].sum() == 0:
            continue
        f1s = [f1(scores[:, k] >= t, truth[:, k]) for t in grid]
        out[k] = float(grid[int(np.nanargmax(f1s))])
    return out


def label_report(scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray, labels) -> dict:
    """Per-label AP and F1, their macro means over labels present, and micro F1."""
    pred = scores >= thresholds[None, :]
    per = {}
    for k, name in enumerate(labels):
        if truth[:, k].sum() == 0:
            continue
        per[name] = {"ap": average_precision(scores[:, k], truth[:, k]), "f1": f1(pred[:, k], truth[:, k]),
                     "support_frames": int(truth[:, k].sum())}
    return {
        "macro_f1": float(np.mean([v["f1"] for v in per.values()])) if per else float("nan"),
        "map": float(np.mean([v["ap"] for v in per.values()])) if per else float("nan"),
        "micro_f1": f1(pred, truth),
        "labels": per,
    }


def events(active: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame runs where a boolean array is true."""
    padded = np.concatenate([[False], active.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2]))


def event_f1(pred: np.ndarray, truth: np.ndarray, tolerance_frames: int) -> float:
    """F1 of onsets: a predicted event matches an unmatched true event starting within tolerance."""
    p_on = [s for s, _ in events(pred)]
    t_on = [s for s, _ in events(truth)]
    matched, used = 0, set()
    for s in p_on:
        best = None
        for j, t in enumerate(t_on):
            if j not in used and abs(s - t) <= tolerance_frames and (best is None or abs(s - t) < abs(s - t_on[best])):
                best = j
        if best is not None:
            used.add(best)
            matched += 1
    total = len(p_on) + len(t_on)
    return 2 * matched / total if total else float("nan")
