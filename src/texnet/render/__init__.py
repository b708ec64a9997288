"""Inference: plain, banded, tiled, ONNX and video rendering of trained generators.

`pipeline.stylize` is the one stylize path (planned once for the output size); importing this package installs
it as the renderer that `StyleNet.stylize` hands its work to (texnet.paper.generators.base.Generator.renderer).
"""
from texnet.paper.generators.base import Generator
from texnet.render import pipeline
from texnet.render.pipeline import stylize

Generator.renderer = pipeline

__all__ = ["stylize"]
