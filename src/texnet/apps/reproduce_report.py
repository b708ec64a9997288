"""The reproduction page: each figure with the paper's claim, our numbers, and a plain verdict."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ..files import atomic_write
from ..plots import plot_curves
from .report import Figure, Section, write_html

#: What the entropy term must buy (docs/method.md §4): a diversity gain, and the loss it may cost.
DIVERSITY_RATIO_TARGET = 3.0
LOSS_RATIO_LIMIT = 1.5


def _smooth(values: Sequence[float], window: int) -> List[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _verdict(ok: bool) -> str:
    return "<span class='ok'>supported</span>" if ok else "<span class='miss'>not supported</span>"


def _ratio(variant: Dict[str, float], base: Dict[str, float], key: str) -> float:
    """variant[key] / base[key], safe when the base is 0 (a fully collapsed set has zero diversity)."""
    return variant[key] / max(base[key], 1e-12)


def _meets_targets(diversity_ratio: float, loss_ratio: float) -> bool:
    """The bar for the entropy term: enough extra diversity for little extra texture loss."""
    return diversity_ratio >= DIVERSITY_RATIO_TARGET and loss_ratio <= LOSS_RATIO_LIMIT


def _sweep_claim(f7: Dict[str, Dict[str, float]]) -> Tuple[str, bool, str]:
    """Does some λ > 0 of the sweep meet both targets? (Fig. 5 judges one preset λ; the best λ depends on the image.)"""
    base = f7[min(f7, key=float)]
    rows = []
    for lam in sorted(f7, key=float)[1:]:
        div, lr = _ratio(f7[lam], base, "pixels_pairwise"), _ratio(f7[lam], base, "texture_loss")
        rows.append((lam, div, lr, _meets_targets(div, lr)))
    good = [r for r in rows if r[3]]
    evidence = "; ".join(f"λ={lam}: {div:.1f}× diversity, {lr:.2f}× loss{' ✓' if ok else ''}"
                         for lam, div, lr, ok in rows)
    return (f"Fig. 7: some λ > 0 of the sweep gives ≥ {DIVERSITY_RATIO_TARGET:g}× diversity within "
            f"{LOSS_RATIO_LIMIT:g}× texture loss", bool(good), evidence)


def claims(results: Dict) -> List[Tuple[str, bool, str]]:
    """(claim, supported?, measured evidence) for every claim the page checks."""
    out = []
    f3a = results.get("fig3a")
    if f3a:
        r = f3a["ratio_IN_over_BN"]
        out.append(("Fig. 3a: StyleNet IN reaches a lower training objective than StyleNet BN (paper: well below 1)",
                    r < 1.0, f"final objective IN / BN = {f3a['final_objective']['IN']:.4g} / "
                             f"{f3a['final_objective']['BN']:.4g} = {r:.3f}"))
    f3b = results.get("fig3b")
    if f3b:
        fl = f3b["first_loss"]
        ok = fl["IN"] < fl["BN"] < fl["noise"]
        out.append(("Fig. 3b: optimization started from the IN output starts lower than from BN, which starts "
                    "lower than from noise", ok,
                    f"first-iteration loss IN {fl['IN']:.4g} < BN {fl['BN']:.4g} < noise {fl['noise']:.4g}"))
    f4 = results.get("fig4")
    if f4:
        cells = f4["cells"]
        m = {k: sum(c[k] for c in cells) / len(cells) for k in ("IN", "BN", "optimization")}
        out.append(("Fig. 4: IN stylizations are closer to the optimization result than BN ones (lower loss)",
                    m["IN"] < m["BN"], f"mean loss IN {m['IN']:.4g}, BN {m['BN']:.4g}, optimization "
                                        f"{m['optimization']:.4g}; IN/optim. = {m['IN'] / m['optimization']:.2f}, "
                                        f"BN/optim. = {m['BN'] / m['optimization']:.2f}"))
    f5 = results.get("fig5")
    if f5:
        keys = list(f5)
        v1, v2_0, v2_l = (f5[k] for k in keys[:3])
        div, feat, struct, lr = (_ratio(v2_l, v2_0, k) for k in
                                 ("pixels_pairwise", "features_pairwise", "structure_pairwise", "texture_loss"))
        out.append((f"Fig. 5: TextureNetV2 with λ > 0 is ≥ {DIVERSITY_RATIO_TARGET:g}× more diverse than with λ = 0 "
                    f"while its texture loss stays within {LOSS_RATIO_LIMIT:g}×",
                    _meets_targets(div, lr),
                    f"diversity ratio (pixels, pairwise) {div:.2f}× [structure {struct:.2f}×, VGG features "
                    f"{feat:.2f}×]; texture-loss ratio {lr:.2f}×"))
        out.append(("Fig. 5: TextureNetV2 with λ = 0 collapses to near-identical samples",
                    v2_0["pixels_pairwise"] < 0.02,
                    f"mean pairwise RMS distance {v2_0['pixels_pairwise']:.4f} (pixel units; < 0.02 counts as identical)"))
        out.append(("Fig. 5: TextureNetV1 is diverse but its quality is lower than TextureNetV2's",
                    v1["pixels_pairwise"] > v2_0["pixels_pairwise"] and v1["texture_loss"] > v2_0["texture_loss"],
                    f"V1 loss {v1['texture_loss']:.4g} vs V2 {v2_0['texture_loss']:.4g}; V1 diversity "
                    f"{v1['pixels_pairwise']:.4f} vs V2 {v2_0['pixels_pairwise']:.4f}"))
    f6 = results.get("fig6")
    if f6:
        d = f6["diversity"]
        out.append(("Fig. 6: StyleNet trained with λ > 0 gives visibly different stylizations for different z",
                    d["structure_pairwise"] > 0.01,
                    f"pairwise RMS distance {d['pixels_pairwise']:.4f} (structure {d['structure_pairwise']:.4f}, "
                    f"features {d['features_pairwise']:.3f}); > 0.01 structure distance counts as visible"))
    f7 = results.get("fig7")
    if f7:
        lams = sorted(f7, key=float)
        lo, hi = f7[lams[0]], f7[lams[-1]]
        r = _ratio(hi, lo, "texture_loss")
        out.append((f"Fig. 7: too large a λ (here {lams[-1]}) degrades the texture (artifacts)", r > LOSS_RATIO_LIMIT,
                    f"texture loss at λ={lams[-1]} is {r:.2f}× the λ=0 loss"))
        out.append(_sweep_claim(f7))
    sp = results.get("speed")
    if sp:
        out.append(("Speed: a forward pass is orders of magnitude faster than optimization", sp["speedup"] >= 100,
                    f"{sp['feedforward_seconds'] * 1000:.1f} ms vs {sp['optimization_seconds']:.1f} s "
                    f"({sp['optimization_steps']} L-BFGS steps) at {sp['size'][1]}x{sp['size'][0]}: "
                    f"{sp['speedup']:.0f}× faster"))
    return out


def _plots(root: Path, results: Dict) -> None:
    f3a = results.get("fig3a")
    if f3a:
        curves = f3a["curves"]
        w = max(1, len(next(iter(curves.values()))) // 20)
        plot_curves(root / "fig3a_objective.png", {f"StyleNet {k}": _smooth(v, w) for k, v in curves.items()},
                    title=f"Fig. 3a: training objective (moving average over {w} steps)", xlabel="iteration",
                    ylabel="objective")
    f3b = results.get("fig3b")
    if f3b:
        plot_curves(root / "fig3b_finetune.png", {f"from {k}": v for k, v in f3b["curves"].items()},
                    title="Fig. 3b: optimization loss by starting point", xlabel="L-BFGS step")
    f7 = results.get("fig7")
    if f7:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        lams = sorted(f7, key=float)
        xs = [float(lam) for lam in lams]
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        ax.plot(xs, [f7[lam]["texture_loss"] for lam in lams], "o-", color="tab:red", label="texture loss")
        ax.set_xlabel("λ (diversity weight)")
        ax.set_ylabel("texture loss", color="tab:red")
        ax2 = ax.twinx()
        ax2.plot(xs, [f7[lam]["pixels_pairwise"] for lam in lams], "s-", color="tab:blue", label="pixels")
        ax2.plot(xs, [f7[lam]["structure_pairwise"] for lam in lams], "^--", color="tab:cyan", label="structure")
        ax2.set_ylabel("diversity (mean pairwise RMS)", color="tab:blue")
        ax2.legend(loc="upper left")
        ax.set_title("Fig. 7: quality and diversity vs λ")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        atomic_write(root / "fig7_lambda_sweep.png", lambda fh: fig.savefig(fh, format="png"))
        plt.close(fig)


def write_report(root: os.PathLike, results: Dict, profile) -> Path:
    """Plots + index.html for a results dict (as written to results.json)."""
    root = Path(root)
    _plots(root, results)
    verdicts = claims(results)
    table = [["claim (paper)", "verdict", "what we measured"]] + [[html.escape(c), _verdict(ok), html.escape(ev)]
                                                               for c, ok, ev in verdicts]
    sec = [Section("Claims and verdicts", [f"Profile <b>{profile.name}</b>: {html.escape(profile.note)}",
                                           html.escape(f"Style: {results['style']}; texture: {results['texture']}; "
                                                       f"device: {results['device']}.")], table=table)]
    have = lambda name: (root / name).is_file()  # noqa: E731
    blocks = [
        ("Fig. 3a — training objective, StyleNet IN vs BN",
         "Same objective, data, seed, schedule and budget; only the normalization differs (paper §5).",
         ["fig3a_objective.png"]),
        ("Fig. 3b — optimization started from noise, from StyleNet IN and from StyleNet BN",
         "Gatys L-BFGS on the same photo; a good feed-forward output starts close to the optimum.",
         ["fig3b_finetune.png", "fig3b_finetuned_from_IN.png", "fig3b_finetuned_from_BN.png"]),
        ("Fig. 4 — content × method", "Rows: held-out photos. Columns: input, StyleNet IN, StyleNet BN, "
         "optimization; each caption gives the cell's loss (style + content, relative scale).", ["fig4_grid.png"]),
        ("Fig. 5 — textures", "Rows: TextureNetV1 (λ = 0), TextureNetV2 (λ = 0), TextureNetV2 (λ > 0); "
         "one sample per column, different z.", ["fig5_textures.png"]),
        ("Fig. 6 — diverse stylization", "StyleNet IN with noise input, trained with λ > 0: the photo, then "
         "one stylization per z; the last tile is the difference of the first two, ×4.", ["fig6_diverse_stylization.png"]),
        ("Fig. 7 — the λ sweep", "Texture loss and diversity vs λ; below, samples at the largest λ.",
         ["fig7_lambda_sweep.png", "fig7_samples_largest_lambda.png"]),
    ]
    for title, text, figs in blocks:
        present = [Figure(f, f) for f in figs if have(f)]
        if present:
            sec.append(Section(title, [text], present))
    sec.append(Section("Numbers", ["Every number is in <a href='results.json'>results.json</a>; each training "
                                   "run's losses.csv, config.json and sample grids are under <code>runs/</code>."]))
    return write_html(root / "index.html", "texnet — reproducing Improved Texture Networks (CVPR 2017)", sec)
