"""Old module paths (before the 2026-12 layout) keep importing for one release: `texnet.losses` is `texnet.paper.losses`.

An import hook rather than 36 stub files, so `ls src/texnet` shows the layout; each alias is the very same module
object, so monkeypatching or isinstance checks through an old path act on the new module.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old dotted name (after 'texnet.') -> new one. Remove in the release after 0.2.
MOVED = {
    "options": "config.options", "normalization": "paper.normalization", "loss_network": "paper.loss_network",
    "losses": "paper.losses", "diversity": "paper.diversity", "objective": "paper.objective",
    "generators": "paper.generators", "generators.base": "paper.generators.base",
    "generators.style_net": "paper.generators.style_net",
    "generators.texture_net_v1": "paper.generators.texture_net_v1",
    "generators.texture_net_v2": "paper.generators.texture_net_v2",
    "auto_lambda": "extras.auto_lambda", "sliced_wasserstein": "extras.sliced_wasserstein",
    "styles": "extras.styles", "color": "extras.color", "seams": "extras.seams", "metrics": "extras.metrics",
    "exemplars": "extras.exemplars", "images": "io.images", "bigimage": "io.bigimage", "files": "io.files",
    "data": "io.data", "bundled": "io.bundled", "plots": "io.plots", "inference": "render.inference",
    "tiling": "render.tiling", "tile_plan": "render.plan", "tile_norm": "render.tile_norm",
    "tile_noise": "render.tile_noise", "banded": "render.banded", "fast_upsample": "render.fast_upsample",
    "export": "render.onnx", "video": "render.video",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("texnet.") and fullname[7:] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        new = "texnet." + MOVED[spec.name[7:]]
        warnings.warn(f"{spec.name} moved to {new}; the old path goes in the next release", DeprecationWarning,
                      stacklevel=3)
        return importlib.import_module(new)

    def exec_module(self, module):  # the target module is already executed
        pass


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
