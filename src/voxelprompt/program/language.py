"""The instruction language: a small, checked subset of Python syntax.

Allowed: assignments (also ``+=`` and tuple unpacking), calls of registered builtins, arithmetic,
comparisons, ``and``/``or``/``not``, literals, lists, tuples, dicts, indexing, f-strings, ``if``,
``for`` over a bounded list or ``range``, ``break``/``continue``/``pass``, and reading public
attributes (``value``, ``unit``, ``present``...) of results. Everything else -- imports, function
or class definitions, ``while``, ``lambda``, comprehensions, ``with``, ``try``, ``global``, names
or attributes starting with an underscore -- is rejected before anything runs.
"""

from __future__ import annotations

import ast

from voxelprompt.errors import VoxelPromptError


class ProgramError(VoxelPromptError):
    """A program is not in the instruction language or broke a limit while running."""


ALLOWED_NODES = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Break, ast.Continue, ast.Pass,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Subscript, ast.Slice,
    ast.Attribute, ast.Call, ast.keyword, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
    ast.JoinedStr, ast.FormattedValue,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Not,
    ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)
FORBIDDEN_NAMES = {"exec", "eval", "open", "compile", "__import__", "globals", "locals", "vars", "getattr",
                   "setattr", "delattr", "input", "breakpoint", "help", "exit", "quit", "type", "object"}
NODE_WORDS = {
    ast.Import: "import", ast.ImportFrom: "import", ast.FunctionDef: "function definitions",
    ast.AsyncFunctionDef: "function definitions", ast.ClassDef: "class definitions", ast.While: "while loops",
    ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.With: "with",
    ast.Try: "try", ast.Raise: "raise", ast.Global: "global", ast.Nonlocal: "nonlocal", ast.Delete: "del",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.NamedExpr: ":=",
    ast.Starred: "*-unpacking", ast.Set: "set literals", ast.Assert: "assert", ast.Return: "return",
}


def parse_program(source: str, max_chars: int = 20_000) -> list[ast.stmt]:
    """Parse and check ``source``; returns its top-level statements (the steps).

    Raises:
        ProgramError: On a syntax error or any construct outside the language.
    """
    if len(source) > max_chars:
        raise ProgramError(f"the program is {len(source)} characters long (limit {max_chars})",
                           "split it into shorter programs")
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise ProgramError(f"syntax error on line {exc.lineno}: {exc.msg}",
                           "write steps in the instruction language (see `voxelprompt functions`)") from None
    nodes = list(ast.walk(tree))
    for node in nodes:  # private and forbidden names first: the most telling reason
        if isinstance(node, ast.Name | ast.Attribute):
            check_node(node)
    for node in nodes:
        check_node(node)
    return tree.body


def check_node(node: ast.AST) -> None:
    """Reject one node that is outside the language (with its line number)."""
    line = getattr(node, "lineno", "?")
    if not isinstance(node, ALLOWED_NODES):
        word = NODE_WORDS.get(type(node), type(node).__name__)
        raise ProgramError(f"line {line}: {word} is not allowed in a program",
                           "use only assignments, calls of registered functions, if and for")
    if isinstance(node, ast.Name) and (node.id.startswith("_") or node.id in FORBIDDEN_NAMES):
        raise ProgramError(f"line {line}: the name '{node.id}' is not allowed",
                           "call only the functions listed by `voxelprompt functions`")
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        raise ProgramError(f"line {line}: private attribute '{node.attr}' is not allowed",
                           "read only public fields such as .value, .unit or .present")
    if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
        raise ProgramError(f"line {line}: only registered functions can be called",
                           "call functions by name, e.g. volume(hippo)")
    if isinstance(node, ast.For) and not isinstance(node.target, ast.Name | ast.Tuple):
        raise ProgramError(f"line {line}: a for loop must assign plain names", "write `for x in items:`")
    if isinstance(node, ast.For) and node.orelse:
        raise ProgramError(f"line {line}: for ... else is not allowed", "use an if after the loop")
