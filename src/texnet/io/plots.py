"""Training curves as PNG line plots (matplotlib): what a run folder shows instead of a wall of numbers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from texnet.io.files import atomic_write


def plot_curves(
    path: Union[str, os.PathLike],
    curves: Dict[str, Sequence[float]],
    title: str = "",
    xlabel: str = "step",
    ylabel: str = "loss",
    logy: bool = True,
    x: Optional[Dict[str, Sequence[float]]] = None,
) -> Path:
    """One PNG line plot with a line per named curve (log y by default: losses span decades)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for name, ys in curves.items():
        ys = list(ys)
        xs = list(x[name]) if x and name in x else list(range(1, len(ys) + 1))
        ax.plot(xs, ys, label=name, linewidth=1.4)
    if logy and all(v > 0 for ys in curves.values() for v in ys):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
    plt.close(fig)
    return path
