"""What a training run leaves to read: losses.csv, its curves, and the closing summary lines.

Kept apart from the loop (train.py) so that adding a logged quantity is one
column here. Rank 0 alone calls these under torchrun.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from texnet.io.files import RunFolder
from texnet.io.plots import plot_curves

LOG_FIELDS = ["step", "objective", "loss", "texture", "content", "entropy", "lambda", "kappa", "layout_level",
              "nn_distance", "layout", "layout_nn", "lr",
              "seconds"]


def write_logs(run_dir: RunFolder, history: Sequence[Dict[str, float]], arch: str, has_entropy: bool,
               samples: int) -> None:
    """losses.csv (every step), losses.png, diversity.png (nn distance) and layout.png (the tracked steps)."""
    if not history:
        return
    fields = [f for f in LOG_FIELDS if f in history[-1]]
    run_dir.write_csv("losses.csv", history, fields)
    curves = {"loss": [r["loss"] for r in history]}
    if not has_entropy:  # with an entropy term the objective can go negative: no log plot of it
        curves = {"objective": [r["objective"] for r in history], **curves}
    plot_curves(run_dir.file("losses.png"), curves, title=f"{arch} training", logy=not has_entropy)
    if len(history) > 1 and history[-1].get("nn_distance", 0) > 0:
        plot_curves(run_dir.file("diversity.png"), {"nn distance": [r["nn_distance"] for r in history]},
                    title="batch mean nearest-neighbour distance (RMS, pixels)", ylabel="distance", logy=False)
    tracked = [r for r in history if "layout" in r]
    if len(tracked) > 1:
        names = ("samples", "exemplar's crops")
        plot_curves(run_dir.file("layout.png"), {names[0]: [r["layout"] for r in tracked],
                                                 names[1]: [1.0 for _ in tracked]},
                    x={k: [r["step"] for r in tracked] for k in names},
                    title=f"layout diversity of {samples} fixed samples (1 = as varied as the exemplar)",
                    ylabel="layout diversity", logy=False)


def summary_lines(history: Sequence[Dict[str, float]], kappa: float, kappa_end, samples: int) -> List[str]:
    """The lines printed at the end of a run: how λ moved (--diversity auto) and the last layout diversity."""
    lines = []
    lams = [r["lambda"] for r in history if "lambda" in r]
    kappas = [r for r in history if "kappa" in r]
    if lams:
        tail = lams[-max(1, len(lams) // 5):]
        if kappas:
            k = "κ steered by --diversity-target"
        else:
            k = f"κ = {kappa:g}" if kappa_end is None else f"κ from {kappa:g} to {kappa_end:g}"
        lines.append(f"--diversity auto ({k}): λ = κ × batch loss went from {lams[0]:.4g} to {lams[-1]:.4g} "
                     f"(mean of the last fifth {sum(tail) / len(tail):.4g}); every step's λ is in losses.csv")
    if kappas:
        lines.append(f"--diversity-target steered κ from {kappas[0]['kappa']:.3g} to {kappas[-1]['kappa']:.3g} "
                     f"(batch layout level at the end {kappas[-1]['layout_level']:.2f}); every step's κ is in losses.csv")
    if history and "layout" in history[-1]:
        last = history[-1]
        nearest = f", nearest neighbour {last['layout_nn']:.2f}" if "layout_nn" in last else ""
        plotted = "; see layout.png" if sum("layout" in r for r in history) > 1 else ""  # as write_logs draws it
        lines.append(f"layout diversity of {samples} fixed samples: {last['layout']:.2f} mean pairwise{nearest} "
                     f"(1.0 = as varied as crops of the exemplar; near 0 nearest = repeated images{plotted})")
    return lines
