"""`texnet demo` / `make demo`: the main jobs on bundled sample images, no user files needed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

from texnet.config import OptimizeConfig, device_option
from texnet.errors import ConfigError
from texnet.io.images import parse_size
from texnet.config.options import check_fields, option
from texnet.io.files import RunFolder
from texnet.optimize import run_optimization
from texnet.io.plots import plot_curves
from texnet.apps.report import Figure, Section, write_html

#: scikit-image ships these (CC0 / public domain), so the demo works offline.
DEMO_TEXTURE = "sample:gravel"
DEMO_CONTENT = "sample:chelsea"
DEMO_STYLE = "sample:starry_night"


@dataclass
class DemoConfig:
    """`texnet demo`: the main jobs on bundled sample images, written to one HTML page."""

    out: str = option("outputs", "output folder")
    size: Any = option(256, "output long side", parse=parse_size)
    steps: int = option(200, "L-BFGS steps per job", low=1)
    device: str = device_option()
    overwrite: bool = option(False, "replace files in an existing, non-empty --out folder")
    quiet: bool = option(False, "no progress bar")

    def validate(self) -> "DemoConfig":
        check_fields(self, "demo")
        self.size = self.size if isinstance(self.size, int) else max(self.size)
        if self.size < 16:
            raise ConfigError(f"--size must be >= 16 for the demo (the loss network taps relu5_1), got {self.size}")
        return self


def run_demo(
    out: str = "outputs",
    size: int = 256,
    steps: int = 200,
    device: str = "auto",
    overwrite: bool = False,
    show_progress: bool = True,
    log=print,
) -> Dict[str, float]:
    """The bundled networks (stylizations, texture samples, each forward pass timed), then texture synthesis and
    stylization by optimization, in `out/index.html`."""
    root = RunFolder(out, overwrite=overwrite)
    from texnet.apps.demo_networks import network_sections

    net_sections, net_times = network_sections(root, size, log=log)
    jobs = {
        "texture": OptimizeConfig(mode="texture", texture=DEMO_TEXTURE, size=size, steps=steps, device=device),
        "stylize": OptimizeConfig(
            mode="style", content=DEMO_CONTENT, style=DEMO_STYLE, size=size, steps=steps, device=device
        ),
    }
    results = {}
    sections = []
    for name, cfg in jobs.items():
        if name == "stylize" and net_times.get("style"):
            cfg = OptimizeConfig(mode="style", content=DEMO_CONTENT, style=net_times["style"]["exemplar"], size=size,
                                 steps=steps, device=device)
        log(f"[demo] {name}: {cfg.mode} by {cfg.optimizer}, {size} px, {steps} steps")
        run = RunFolder(root.path / name, overwrite=True)
        res = run_optimization(cfg, run, show_progress=show_progress)
        curve = {"total": [r["loss"] for r in res.history]}
        if cfg.mode == "style":
            curve.update(texture=[r["texture"] for r in res.history], content=[r["content"] for r in res.history])
        plot_curves(run.file("losses.png"), curve, title=f"{name}: loss per L-BFGS step")
        ratio = res.initial_loss / max(res.final_loss, 1e-12)
        results[name] = {"initial_loss": res.initial_loss, "final_loss": res.final_loss, "seconds": res.seconds}
        log(f"[demo] {name}: loss {res.initial_loss:.4g} -> {res.final_loss:.4g} ({ratio:.0f}x lower) in {res.seconds:.0f} s")
        if cfg.mode == "texture":
            figs = [Figure(f"{name}/texture.png", f"exemplar ({DEMO_TEXTURE})"),
                    Figure(f"{name}/output.png", f"synthesized from noise, loss {res.final_loss:.3g}")]
            text = ["Texture synthesis by optimization (Gatys et al.; paper §2): white noise is optimized with "
                    "L-BFGS until its VGG-19 Gram matrices match the exemplar's."]
        else:
            figs = [Figure(f"{name}/content.png", f"content ({DEMO_CONTENT})"),
                    Figure(f"{name}/style.png", f"style ({cfg.style})"),
                    Figure(f"{name}/output.png", f"stylized, loss {res.final_loss:.3g}")]
            text = ["Stylization by optimization: starting from the photo, L-BFGS matches the style's Gram "
                    "matrices while keeping the photo's relu4_2 activations."]
        figs.append(Figure(f"{name}/losses.png", "loss per step (log scale)"))
        text.append(f"Loss {res.initial_loss:.4g} → {res.final_loss:.4g} ({ratio:.0f}× lower), "
                    f"{steps} steps, {res.seconds:.0f} s on {run_device(run.path)}. Reproduce: "
                    f"<code>texnet optimize {cli_args(cfg)} --out DIR</code>")
        net = net_times.get(cfg.mode)
        if net:
            text.append(f"<b>The same job by the bundled network {net['name']}: {net['seconds'] * 1e3:.0f} ms at "
                        f"{size} px, {res.seconds / max(net['seconds'], 1e-9):.0f}× faster</b> than this optimization "
                        "(the paper's point: train once, then one forward pass).")
            results[name]["network_seconds"] = net["seconds"]
        sections.append(Section(name.capitalize(), text, figs))
    write_html(root.file("index.html"), "texnet demo", net_sections + sections,
               intro=["Generated by <code>texnet demo</code> from scikit-image sample images and the networks bundled "
                      "with texnet (no downloads): first the paper's feed-forward networks, then the slow "
                      "optimization they replace. Each folder holds the images, <code>losses.csv</code> and "
                      "<code>config.json</code>."])
    log(f"[demo] wrote {root.path / 'index.html'}")
    return results


def run_device(path: Path) -> str:
    import json

    try:
        return json.loads((path / "config.json").read_text())["device"]
    except (OSError, ValueError, KeyError):
        return "?"


def cli_args(cfg: OptimizeConfig) -> str:
    if cfg.mode == "texture":
        return f"--texture {cfg.texture} --size {cfg.size} --steps {cfg.steps}"
    return f"--content {cfg.content} --style {cfg.style} --size {cfg.size} --steps {cfg.steps}"
