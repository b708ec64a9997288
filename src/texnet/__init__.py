"""texnet: Improved Texture Networks (Ulyanov, Vedaldi, Lempitsky, CVPR 2017) in PyTorch.

    import texnet
    g = texnet.load("runs/gravel/model.pt")      # a trained generator, eval mode
    x = g.generate(4, seed=0)                       # texture samples, (4, 3, H, W) in [0, 1]
    y = g.stylize(texnet.load_image("photo.jpg"))   # with a StyleNet checkpoint
"""
from texnet._version import __version__

import os as _os
import sys as _sys

if "torch" not in _sys.modules:  # only effective before torch loads (e.g. the `texnet` command)
    # OpenMP's default spin-waiting makes torch's threads several times slower whenever another job holds
    # a core; sleeping workers do not (measured on 2 busy cores: `texnet optimize` 54.6 s -> 16.8 s, same
    # result). An explicit OMP_WAIT_POLICY in the environment wins. See benchmarks/RESULTS.md.
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Every fresh multi-MB tensor otherwise costs a page fault per 4 KB page: a 1024² x 16-channel bf16 map
    # takes 12 ms to allocate and copy, 3 ms with 2 MB pages, and StyleNet(16) bf16 NHWC at 1024² runs in
    # ~0.7x the time (benchmarks/RESULTS.md). torch reads this once, at its first allocation; it only
    # advises the kernel (madvise) and does nothing where transparent huge pages are off.
    _os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from texnet import _compat

_compat.install()

from texnet.checkpoints import load
from texnet.config import LossConfig, OptimizeConfig, TrainConfig
from texnet.paper.diversity import entropy_term, nearest_neighbor_distances
from texnet.errors import TexnetError
from texnet.paper.generators import StyleNet, TextureNetV1, TextureNetV2
from texnet.io.images import load_image, make_grid, save_image
from texnet.paper.loss_network import LossNetwork
from texnet.paper.losses import ContentLoss, PerceptualLoss, TextureLoss, gram_matrix, tv_loss
from texnet.build import build_loss
from texnet.paper.normalization import InstanceNorm2d
from texnet.paper.objective import JuleszObjective, julesz_objective
from texnet.optimize import optimize_pixels, run_optimization
from texnet.train import train
from texnet.render import stylize

__all__ = [
    "load", "LossConfig", "OptimizeConfig", "TrainConfig", "entropy_term", "nearest_neighbor_distances",
    "TexnetError", "StyleNet", "TextureNetV1", "TextureNetV2", "load_image", "make_grid", "save_image",
    "LossNetwork", "ContentLoss", "PerceptualLoss", "TextureLoss", "build_loss", "gram_matrix", "tv_loss",
    "InstanceNorm2d", "JuleszObjective", "julesz_objective", "optimize_pixels", "run_optimization", "train", "stylize",
]
