"""Segmentation engines behind one protocol, and the router that picks one per concept."""

from voxelprompt.engines.base import Engine, Prompts, Router, Segmentation, UnsupportedConcept

__all__ = ["Engine", "Prompts", "Router", "Segmentation", "UnsupportedConcept", "available_engines",
           "default_router"]


def available_engines() -> list[Engine]:
    """The engines installed with this package, best first."""
    from voxelprompt.engines.atlas import AtlasEngine

    return [AtlasEngine()]


def default_router() -> Router:
    return Router(available_engines())
