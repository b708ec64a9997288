"""The feed-forward generators of the paper, one file each, and a registry to rebuild them by name."""
from __future__ import annotations

from typing import Any, Dict

from texnet.errors import CheckpointError
from texnet.paper.generators.base import Generator
from texnet.paper.generators.style_net import StyleNet
from texnet.paper.generators.texture_net_v1 import TextureNetV1
from texnet.paper.generators.texture_net_v2 import TextureNetV2

ARCHITECTURES = {"TextureNetV1": TextureNetV1, "TextureNetV2": TextureNetV2, "StyleNet": StyleNet}


def build_generator(arch: str, config: Dict[str, Any]) -> Generator:
    """Rebuild a generator from its class name and constructor arguments (as stored in checkpoints)."""
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"unknown generator architecture '{arch}' (known: {', '.join(ARCHITECTURES)})")
    try:
        return ARCHITECTURES[arch](**config)
    except TypeError as exc:
        raise CheckpointError(f"{arch}: options {sorted(config)} do not match this texnet version ({exc})") from exc


__all__ = ["Generator", "TextureNetV1", "TextureNetV2", "StyleNet", "ARCHITECTURES", "build_generator"]
