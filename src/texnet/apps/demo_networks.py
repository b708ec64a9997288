"""The first part of `texnet demo`: photos stylized and textures sampled by the bundled networks, each timed."""
from __future__ import annotations

import time
from typing import Dict, List, Tuple

from texnet.io import bundled
from texnet.io.images import load_image, make_grid, save_image
from texnet.apps.report import Figure, Section

#: scikit-image photos (no bundled network trained on them).
DEMO_PHOTOS = ("sample:chelsea", "sample:coffee")
#: How many bundled networks of each kind the demo runs (first in name order; starry_night first if present).
DEMO_STYLE_NETWORKS, DEMO_TEXTURE_NETWORKS = 3, 3
#: The optimization part stylizes with this network's style, so its time compares to one forward pass.
PREFERRED_STYLE = "starry_night"


def _pick(kind: str, n: int) -> List[str]:
    names = [m for m in bundled.names() if bundled.card(m)["kind"] == kind]
    names.sort(key=lambda m: m != PREFERRED_STYLE)
    return names[:n]


def _timed(fn) -> Tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def network_sections(root, size: int, log=print) -> Tuple[List[Section], Dict[str, Dict]]:
    """Sections for the page, and the StyleNet whose forward time the optimization part compares to (its style
    is the optimization's, when the network ships its style image)."""
    from texnet.checkpoints import load
    from texnet.render.inference import stylize_image

    sections, compare = [], {}
    styles = _pick("style", DEMO_STYLE_NETWORKS)
    if styles:
        figs = []
        photos = {p: load_image(p, size=size) for p in DEMO_PHOTOS}
        for name in styles:
            g, card = load(name), bundled.card(name)
            stylize_image(g, photos[DEMO_PHOTOS[0]], seed=0)  # warm-up: the first call pays one-off costs
            for photo, x in photos.items():
                y, seconds = _timed(lambda: stylize_image(g, x, seed=0))
                fname = f"networks/{name}_{photo.split(':')[-1]}.jpg"
                save_image(y, root.file(fname), quality=90)
                figs.append(Figure(fname, f"{name} ({card['title']}): {seconds * 1e3:.0f} ms", width=260))
                compare.setdefault("style", {"name": name, "seconds": seconds,
                                             "exemplar": _exemplar_for_optimization(name)})
            log(f"[demo] stylized {len(photos)} photos with {name}")
        sections.append(Section("Stylization by bundled networks (one forward pass each)", [
            f"Photos from scikit-image at {size} px, stylized by networks that ship inside texnet "
            "(<code>texnet stylize --model NAME photo.jpg</code>; <code>texnet models</code> lists them). "
            "Each caption gives that forward pass's time on this machine."], figs))
    textures = _pick("texture", DEMO_TEXTURE_NETWORKS)
    if textures:
        figs, mapped = [], []
        for name in textures:
            g, card = load(name), bundled.card(name)
            if g.config.get("z_input") == "map":
                mapped.append(name)
            tex_size = card["declared"].get("output_size") or size
            samples, seconds = _timed(lambda: g.generate(4, size=tex_size, seed=0))
            fname = f"networks/{name}_samples.jpg"
            save_image(make_grid(list(samples), ncol=4), root.file(fname), quality=90)
            nn = card.get("quality", {}).get("layout_nn")
            spread = f", nearest-neighbour layout {nn:.2f}" if nn is not None else ""
            figs.append(Figure(fname, f"{name} ({card['architecture']}): 4 samples at {tex_size} px in "
                                      f"{seconds * 1e3:.0f} ms{spread}", width=520))
            log(f"[demo] sampled {name}")
        sections.append(Section("Textures from bundled networks (fresh noise, new samples)", [
            "Each row: four samples of one network from different noise; each caption says how far apart their "
            "arrangements are (nearest-neighbour layout: 0 = a repeated picture, 1 = as far apart as crops of the "
            "real texture, from the network's card). "
            + (f"{' and '.join(mapped)} read{'s its' if len(mapped) == 1 else ' their'} noise as a map "
               "(<code>--v2-z map</code>), so no arrangement is fixed in the weights. " if mapped else "")
            + "TextureNetV1 networks sample any size and tile (<code>texnet sample --model NAME --size 1024 "
            "--tile-preview</code>)."], figs))
    return sections, compare


def _exemplar_for_optimization(name: str) -> str:
    """The style image the optimization part uses, as a reader can type it: texnet's bundled painting for
    starry_night (the same OpenCV copy its thumbnail was made from), else the network's shipped thumbnail, else
    the bundled painting."""
    thumb = bundled.exemplar_thumbnail(name)
    if name == PREFERRED_STYLE or thumb is None:
        return "sample:starry_night"
    return str(thumb)
