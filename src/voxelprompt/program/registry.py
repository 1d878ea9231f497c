"""The builtin registry: the only functions a program can call, and the tool spec a planner sees."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Builtin:
    """A registered function: ``fn(ctx, *args, **kwargs)``; its docstring states types and units."""

    name: str
    fn: Callable[..., Any]
    category: str

    @property
    def parameters(self) -> list[inspect.Parameter]:
        return list(inspect.signature(self.fn).parameters.values())[1:]  # without ctx

    @property
    def signature(self) -> str:
        parts = []
        for p in self.parameters:
            text = p.name
            if p.annotation is not inspect.Parameter.empty:
                text += f": {_type_name(p.annotation)}"
            if p.default is not inspect.Parameter.empty:
                text += f" = {p.default!r}"
            if p.kind is inspect.Parameter.VAR_POSITIONAL:
                text = "*" + text
            parts.append(text)
        ret = inspect.signature(self.fn).return_annotation
        tail = f" -> {_type_name(ret)}" if ret is not inspect.Signature.empty else ""
        return f"{self.name}({', '.join(parts)}){tail}"

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or "")

    def spec(self) -> dict[str, Any]:
        """JSON description: name, signature, category, summary and full docstring, parameters."""
        params = []
        for p in self.parameters:
            item: dict[str, Any] = {"name": p.name, "type": _type_name(p.annotation)}
            if p.default is not inspect.Parameter.empty:
                item["default"] = p.default
            if p.kind is inspect.Parameter.VAR_POSITIONAL:
                item["variadic"] = True
            params.append(item)
        return {"name": self.name, "signature": self.signature, "category": self.category,
                "summary": self.doc.splitlines()[0] if self.doc else "", "doc": self.doc, "parameters": params}


def _type_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", str(annotation))


class Registry:
    """Named builtins, grouped by category."""

    def __init__(self) -> None:
        self._items: dict[str, Builtin] = {}

    def register(self, name: str | None = None, category: str = "general") -> Callable:
        def wrap(fn: Callable) -> Callable:
            key = name or fn.__name__.rstrip("_")
            self._items[key] = Builtin(key, fn, category)
            return fn
        return wrap

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __getitem__(self, name: str) -> Builtin:
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def spec(self) -> list[dict[str, Any]]:
        return [b.spec() for b in self._items.values()]
