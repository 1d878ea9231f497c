"""A persistent interpreter for the instruction language, with limits and a trace of every step.

Each top-level statement is one step. Names persist between steps (and between ``run`` calls), so
an agent can run one step, look at the result and choose the next. Time, loop iterations, the size
of sequences and exponents are bounded; builtins bound their own work (e.g. dilation radius).
"""

from __future__ import annotations

import ast
import dataclasses
import operator
import time
from dataclasses import dataclass, field
from typing import Any

from voxelprompt.errors import VoxelPromptError
from voxelprompt.measure import Quantity
from voxelprompt.program.language import ProgramError, parse_program
from voxelprompt.program.registry import Registry
from voxelprompt.program.values import Image, Region

BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
           ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
READABLE_TYPES = (Quantity, Region, Image)


@dataclass
class Limits:
    """Bounds on one program run."""

    seconds: float = 60.0
    loop_iterations: int = 1_000
    sequence_length: int = 10_000
    max_exponent: int = 64
    max_steps: int = 200


@dataclass
class Step:
    """One executed statement: its code, a summary of what it produced, its time and warnings."""

    index: int
    code: str
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.index, "code": self.code, "seconds": round(self.seconds, 3),
                               "outputs": self.outputs}
        if self.warnings:
            out["warnings"] = self.warnings
        if self.error:
            out["error"] = self.error
            out["error_type"] = self.error_type
        return out


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Interpreter:
    """Runs programs against a registry of builtins and a context (images, engines, answer)."""

    def __init__(self, registry: Registry, context: Any, limits: Limits | None = None) -> None:
        self.registry = registry
        self.context = context
        self.limits = limits or Limits()
        self.names: dict[str, Any] = {}
        self.trace: list[Step] = []
        self._deadline = 0.0
        self._iterations = 0

    @property
    def current_step(self) -> int:
        return len(self.trace)

    def run(self, source: str, *, stop_on_error: bool = True) -> list[Step]:
        """Parse and run ``source`` step by step; returns the new steps.

        Raises:
            ProgramError: If the program is not in the language (nothing runs then), or, with
                ``stop_on_error``, the first step that fails.
        """
        statements = parse_program(source)
        lines = source.splitlines()
        if len(self.trace) + len(statements) > self.limits.max_steps:
            raise ProgramError(f"the program has more than {self.limits.max_steps} steps",
                               "write a shorter program")
        self._deadline = time.monotonic() + self.limits.seconds
        self._iterations = 0
        new = []
        for stmt in statements:
            code = "\n".join(lines[stmt.lineno - 1: stmt.end_lineno]).strip()
            step = self._run_step(stmt, code)
            new.append(step)
            if step.error and stop_on_error:
                raise ProgramError(f"step {step.index} ({code.splitlines()[0]}) failed: {step.error}")
        return new

    def _run_step(self, stmt: ast.stmt, code: str) -> Step:
        step = Step(len(self.trace) + 1, code)
        self.trace.append(step)
        before = dict(self.names)
        start = time.perf_counter()
        try:
            self._exec(stmt)
        except VoxelPromptError as exc:  # ProgramError, ConceptRefused, engine and input errors
            step.error, step.error_type = str(exc), type(exc).__name__
        except (ZeroDivisionError, OverflowError, TypeError, ValueError, IndexError, KeyError) as exc:
            step.error = f"{type(exc).__name__}: {exc}"
        except RecursionError:
            step.error = "the expression is nested too deeply"
        step.seconds = time.perf_counter() - start
        for name, value in self.names.items():
            if name not in before or before[name] is not value:
                step.outputs[name] = summarise(value)
        return step

    # -- statements ------------------------------------------------------------------------------
    def _exec_block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self._exec(stmt)

    def _exec(self, stmt: ast.stmt) -> None:
        self._tick()
        if isinstance(stmt, ast.Expr):
            self._eval(stmt.value)
        elif isinstance(stmt, ast.Assign):
            value = self._eval(stmt.value)
            for target in stmt.targets:
                self._assign(target, value)
        elif isinstance(stmt, ast.AugAssign):
            if not isinstance(stmt.target, ast.Name):
                raise ProgramError("only names can be updated with +=, -= ...")
            current = self._lookup(stmt.target.id)
            self._assign(stmt.target, self._binary(stmt.op, current, self._eval(stmt.value)))
        elif isinstance(stmt, ast.If):
            self._exec_block(stmt.body if self._truth(self._eval(stmt.test)) else stmt.orelse)
        elif isinstance(stmt, ast.For):
            self._for(stmt)
        elif isinstance(stmt, ast.Break):
            raise _Break
        elif isinstance(stmt, ast.Continue):
            raise _Continue
        elif isinstance(stmt, ast.Pass):
            return
        else:  # parse_program rejects everything else
            raise ProgramError(f"statement {type(stmt).__name__} is not allowed")

    def _for(self, stmt: ast.For) -> None:
        items = self._eval(stmt.iter)
        if isinstance(items, range):
            if len(items) > self.limits.loop_iterations:
                raise ProgramError(f"a loop over {len(items)} items exceeds the limit of "
                                   f"{self.limits.loop_iterations} iterations")
        elif not isinstance(items, list | tuple | dict | str):
            raise ProgramError("a for loop needs a list, tuple, dict or range")
        for item in list(items):
            self._iterations += 1
            if self._iterations > self.limits.loop_iterations:
                raise ProgramError(f"the program ran more than {self.limits.loop_iterations} loop iterations",
                                   "loop over fewer items")
            self._assign(stmt.target, item)
            try:
                self._exec_block(stmt.body)
            except _Break:
                break
            except _Continue:
                continue

    def _assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            if target.id in self.registry:
                raise ProgramError(f"'{target.id}' is a function name; choose another variable name")
            self.names[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            values = list(value)
            if len(values) != len(target.elts):
                raise ProgramError(f"cannot unpack {len(values)} values into {len(target.elts)} names")
            for t, v in zip(target.elts, values):
                self._assign(t, v)
        else:
            raise ProgramError("only names can be assigned")

    # -- expressions -----------------------------------------------------------------------------
    def _tick(self) -> None:
        if time.monotonic() > self._deadline:
            raise ProgramError(f"the program ran longer than {self.limits.seconds:g} s", "simplify it")

    def _eval(self, node: ast.expr) -> Any:
        self._tick()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._lookup(node.id)
        if isinstance(node, ast.List | ast.Tuple):
            values = [self._eval(e) for e in node.elts]
            self._check_size(values)
            return values if isinstance(node, ast.List) else tuple(values)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise ProgramError("dict unpacking (**) is not allowed")
            return {self._eval(k): self._eval(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
        if isinstance(node, ast.BinOp):
            return self._binary(node.op, self._eval(node.left), self._eval(node.right))
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not self._truth(value)
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BoolOp):
            result: Any = None
            for v in node.values:
                result = self._eval(v)
                if isinstance(node.op, ast.And) and not self._truth(result):
                    return result
                if isinstance(node.op, ast.Or) and self._truth(result):
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = self._eval(node.left)
            for op, comp in zip(node.ops, node.comparators):
                right = self._eval(comp)
                if not COMPARE[type(op)](_plain(left), _plain(right)):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self._eval(node.body) if self._truth(self._eval(node.test)) else self._eval(node.orelse)
        if isinstance(node, ast.Subscript):
            container = self._eval(node.value)
            if isinstance(node.slice, ast.Slice):
                parts = [self._eval(p) if p is not None else None
                         for p in (node.slice.lower, node.slice.upper, node.slice.step)]
                return container[slice(*parts)]
            return container[self._eval(node.slice)]
        if isinstance(node, ast.Attribute):
            obj = self._eval(node.value)
            if not isinstance(obj, READABLE_TYPES):
                raise ProgramError(f"attributes can be read only from results (regions, images, quantities), "
                                   f"not from {type(obj).__name__}")
            if not hasattr(obj, node.attr) or callable(getattr(obj, node.attr)):
                raise ProgramError(f"{type(obj).__name__} has no field '{node.attr}'")
            return getattr(obj, node.attr)
        if isinstance(node, ast.JoinedStr):
            text = "".join(self._format(v) for v in node.values)
            self._check_size(text)
            return text
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ProgramError(f"expression {type(node).__name__} is not allowed")

    def _format(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return str(node.value)
        assert isinstance(node, ast.FormattedValue)
        raw = self._eval(node.value)  # once: it may call a builtin
        spec = self._eval(node.format_spec) if node.format_spec is not None else ""
        if len(str(spec)) > 20:
            raise ProgramError("format specification too long")
        if node.conversion == ord("r"):
            return format(repr(_plain(raw)), spec)
        return format(_plain(raw), spec) if spec else str(raw)

    def _lookup(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        if name in self.registry:
            raise ProgramError(f"'{name}' is a function; call it as {name}(...)")
        raise ProgramError(f"name '{name}' is not defined", "assign it in an earlier step")

    def _binary(self, op: ast.operator, left: Any, right: Any) -> Any:
        left, right = _plain(left), _plain(right)
        if isinstance(op, ast.Pow):
            if isinstance(right, int | float) and abs(right) > self.limits.max_exponent:
                raise ProgramError(f"exponent {right} exceeds the limit of {self.limits.max_exponent}")
        if isinstance(op, ast.Mult):
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if len(seq) * max(n, 0) > self.limits.sequence_length:
                        raise ProgramError(f"the result would hold {len(seq) * n} items "
                                           f"(limit {self.limits.sequence_length})")
        if type(op) not in BINARY:
            raise ProgramError(f"operator {type(op).__name__} is not allowed")
        result = BINARY[type(op)](left, right)
        self._check_size(result)
        if isinstance(result, int) and result.bit_length() > 256:
            raise ProgramError("an integer grew beyond 256 bits", "use smaller numbers")
        return result

    def _check_size(self, value: Any) -> None:
        if isinstance(value, str | list | tuple) and len(value) > self.limits.sequence_length:
            raise ProgramError(f"a value holds {len(value)} items (limit {self.limits.sequence_length})")

    @staticmethod
    def _truth(value: Any) -> bool:
        if isinstance(value, Region):
            return value.present
        return bool(_plain(value))

    def _call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        if name not in self.registry:
            raise ProgramError(f"'{name}' is not a registered function",
                               "see `voxelprompt functions` for what a program can call")
        args = [self._eval(a) for a in node.args]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise ProgramError("**-unpacking is not allowed in calls")
            kwargs[kw.arg] = self._eval(kw.value)
        builtin = self.registry[name]
        try:
            result = builtin.fn(self, *args, **kwargs)
        except TypeError as exc:
            if "argument" in str(exc):
                raise ProgramError(f"{builtin.signature}: {exc}") from None
            raise
        return _stamp(result, self.current_step)


def _plain(value: Any) -> Any:
    """Numbers for arithmetic: a scalar Quantity acts as its value."""
    if isinstance(value, Quantity) and not isinstance(value.value, tuple):
        return float(value.value)
    return value


def _stamp(value: Any, step: int) -> Any:
    """Record the step that produced each Quantity/Region (if not already recorded)."""
    if isinstance(value, Quantity) and "step" not in value.provenance:
        return dataclasses.replace(value, provenance={**value.provenance, "step": step})
    if isinstance(value, Region) and value.step is None:
        value.step = step
        return value
    if isinstance(value, list):
        return [_stamp(v, step) for v in value]
    if isinstance(value, dict):
        return {k: _stamp(v, step) for k, v in value.items()}
    return value


def summarise(value: Any) -> Any:
    """A small JSON-ready picture of a value, for the trace."""
    if isinstance(value, Region):
        return value.summary()
    if isinstance(value, Quantity):
        return {"value": value.json_value(), "unit": value.unit, "name": value.name}
    if isinstance(value, Image):
        return {"image": value.role, "shape": list(value.shape)}
    if isinstance(value, list | tuple):
        return [summarise(v) for v in value[:20]]
    if isinstance(value, dict):
        return {str(k): summarise(v) for k, v in list(value.items())[:20]}
    if isinstance(value, float | int | str | bool) or value is None:
        return value if not isinstance(value, str) else value[:200]
    return repr(value)[:200]
