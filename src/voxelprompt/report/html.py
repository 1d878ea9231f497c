"""A one-page HTML report of an answered request: answer, values with units and steps, program, pictures."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from voxelprompt.files import write_text_atomic

STYLE = ("body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
         "pre{background:#f4f4f4;padding:8px;overflow-x:auto}img{max-width:100%}")


def write_html_report(payload: dict[str, Any], request: str, path: str | os.PathLike[str],
                      pictures: list[tuple[str, str]] | None = None) -> Path:
    """Write the report; ``pictures`` are (caption, file name relative to the report) pairs."""
    e = html.escape
    rows = "".join(f"<tr><td>{e(str(v['name']))}</td><td>{e(_number(v['value']))}</td><td>{e(str(v['unit']))}</td>"
                   f"<td>{e(str(v['step']))}</td></tr>" for v in payload.get("values", []))
    doubts = "".join(f"<li>{e(d['message'])}</li>" for d in payload.get("doubts", []))
    figures = "".join(f"<figure><img src='{e(src)}' alt='{e(cap)}'><figcaption>{e(cap)}</figcaption></figure>"
                      for cap, src in pictures or [])
    program = e("\n".join(payload.get("program", [])))
    body = (f"<h1>voxelprompt report</h1><p><b>Request:</b> {e(request)}</p>"
            f"<p><b>Status:</b> {e(payload.get('status', ''))}</p><p><b>Answer:</b> {e(payload.get('answer', ''))}</p>"
            + (f"<table><tr><th>value</th><th>number</th><th>unit</th><th>step</th></tr>{rows}</table>" if rows else "")
            + (f"<h2>Doubts</h2><ul>{doubts}</ul>" if doubts else "")
            + f"<h2>Program</h2><pre>{program}</pre>" + (f"<h2>Masks</h2>{figures}" if figures else ""))
    text = f"<!doctype html><html><head><meta charset='utf-8'><title>voxelprompt report</title>" \
           f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    target = Path(path)
    write_text_atomic(target, text)
    return target


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
