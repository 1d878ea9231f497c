"""Segmentation engines behind one protocol, and the router that picks one per concept."""

from voxelprompt.engines.base import Engine, Prompts, Router, Segmentation, UnsupportedConcept

__all__ = ["Engine", "Prompts", "Router", "Segmentation", "UnsupportedConcept", "available_engines",
           "default_router"]


def available_engines() -> list[Engine]:
    """The engines installed with this package: the atlas engine, then the network when its weights are
    installed (the router still tries the network first for the concepts it prefers)."""
    from voxelprompt.engines.atlas import AtlasEngine
    from voxelprompt.engines.net import NetEngine

    net = NetEngine()
    return [AtlasEngine(), net] if net.available() else [AtlasEngine()]


def default_router() -> Router:
    return Router(available_engines())
