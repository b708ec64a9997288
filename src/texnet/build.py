"""From configs to the method's objects: the loss and the objective a LossConfig / TrainConfig asks for.

The paper's modules (texnet.paper) take plain arguments; this is where a config's fields become them, and
where texnet's alternatives (the sliced-Wasserstein texture loss) are chosen.
"""
from __future__ import annotations

from typing import Sequence

from texnet.extras.sliced_wasserstein import SlicedWassersteinLoss
from texnet.paper.loss_network import LossNetwork
from texnet.paper.losses import (DEFAULT_CONTENT_LAYERS, DEFAULT_TEXTURE_LAYERS, ContentLoss, PerceptualLoss,
                                 TextureLoss, parse_layer_weights)
from texnet.paper.objective import JuleszObjective


def build_loss(cfg, style_images, with_content: bool, device=None, extra_layers: Sequence[str] = ()) -> PerceptualLoss:
    """PerceptualLoss from a LossConfig: one truncated VGG for all taps, target Grams computed once.

    `style_images` (1 or N, 3, H, W) in [0, 1] define the texture target; a list of images (sizes may differ)
    gives one target per style (multi-style training, `style=` in forward picks each image's);
    `extra_layers` are additional taps the caller needs (e.g. diversity features).
    """
    tex_w = parse_layer_weights(cfg.texture_layers, DEFAULT_TEXTURE_LAYERS)
    con_w = parse_layer_weights(cfg.content_layers, DEFAULT_CONTENT_LAYERS) if with_content else {}
    layers = list(dict.fromkeys(list(tex_w) + list(con_w) + list(extra_layers)))
    net = LossNetwork(
        layers,
        pooling=cfg.pooling,
        weights=cfg.vgg_weights,
        weights_format=cfg.vgg_format,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        compile=getattr(cfg, "compile", False),
    )
    several = isinstance(style_images, (list, tuple))
    if device is not None:
        net = net.to(device)
        style_images = [img.to(device) for img in style_images] if several else style_images.to(device)
    kind = getattr(cfg, "texture_loss", "gram")
    if kind == "sw":
        assert not several, "one texture target with the sliced-Wasserstein loss (checked by TrainConfig)"
        texture = SlicedWassersteinLoss.from_images(net, style_images, tex_w, loss_scale=cfg.loss_scale,
                                                    normalize_gradients=cfg.normalize_gradients,
                                                    seed=getattr(cfg, "sw_seed", None))
    else:
        make = TextureLoss.from_style_images if several else TextureLoss.from_images
        texture = make(net, style_images, tex_w, loss_scale=cfg.loss_scale,
                       normalize_gradients=cfg.normalize_gradients)
    content = ContentLoss(con_w, loss_scale=cfg.loss_scale) if with_content else None
    return PerceptualLoss(net, texture, content, cfg.texture_weight, cfg.content_weight, cfg.tv_weight)


def build_objective(cfg, exemplar, device=None) -> JuleszObjective:
    """The objective a TrainConfig trains with: its losses, on a loss network with every tap they need.

    `exemplar`: one image, or a list of style images (one texture target per style).
    """
    extra = JuleszObjective.taps(cfg.diversity_space, cfg.diversity_layer)
    loss = build_loss(cfg.loss, exemplar, with_content=cfg.task == "style", device=device, extra_layers=extra)
    auto = cfg.auto_lambda
    return JuleszObjective(loss, cfg.diversity_kappa if auto else cfg.diversity, cfg.diversity_space,
                           cfg.diversity_layer, cfg.diversity_eps, relative=auto)
