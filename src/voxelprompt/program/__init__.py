"""The instruction language: parser, interpreter with limits, builtins registry and trace."""

from voxelprompt.program.builtins import REGISTRY, ConceptRefused, describe_registry
from voxelprompt.program.context import ProgramContext, assign_roles
from voxelprompt.program.interpreter import Interpreter, Limits, Step
from voxelprompt.program.language import ProgramError, parse_program
from voxelprompt.program.values import Answer, Image, Region, quantity_label

__all__ = ["REGISTRY", "Answer", "ConceptRefused", "Image", "Interpreter", "Limits", "ProgramContext",
           "ProgramError", "Region", "Step", "assign_roles", "describe_registry", "parse_program",
           "quantity_label"]


def new_interpreter(context: ProgramContext, limits: Limits | None = None) -> Interpreter:
    """An interpreter over the standard builtins."""
    return Interpreter(REGISTRY, context, limits)
