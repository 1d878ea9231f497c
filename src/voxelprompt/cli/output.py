"""Printing for the command line: JSON on request, readable tables otherwise, errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from voxelprompt.report.tables import json_safe

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def print_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as strict JSON (non-finite numbers become null)."""
    sys.stdout.write(json.dumps(json_safe(payload), indent=2) + "\n")


def print_error(message: str) -> None:
    """Print a one-line error on stderr."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a simple table."""
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[fmt(v) for v in row])
    stdout.print(table)


def fmt(value: Any) -> str:
    """Compact human formatting of numbers and lists."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)
