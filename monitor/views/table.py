"""Tables for a terminal: a header row, one column per field, columns as wide as their widest
cell *on screen* (CJK and other wide characters count two columns, combining marks none, by
wcwidth), long cells cut with an ellipsis at a column's limit, and the last column left free."""

from __future__ import annotations

from typing import Any, Sequence

MAX_COLUMN = 40  # display columns of any column but the last
MAX_LAST = 100


def width(text: str) -> int:
    from wcwidth import wcswidth, wcwidth  # here: its tables cost megabytes a daemon never needs

    w = wcswidth(text)
    if w >= 0:
        return w
    return sum(max(wcwidth(ch), 0) for ch in text)  # a control character counts as nothing


def cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` display columns, ending in "…" when cut."""
    if width(text) <= limit:
        return text
    from wcwidth import wcwidth

    out, used = [], 0
    for ch in text:
        w = max(wcwidth(ch), 0)
        if used + w > limit - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, columns: int) -> str:
    return text + " " * max(columns - width(text), 0)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    text = str(value)
    return " ".join(text.split()) if not text.isprintable() or "  " in text else text


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_column: int = MAX_COLUMN,
                 max_last: int = MAX_LAST) -> list[str]:
    """The lines of the table (header first), columns two spaces apart."""
    body = [[cell(v) for v in row] for row in rows]
    last = len(headers) - 1
    limits = [max_column if i < last else max_last for i in range(len(headers))]
    body = [[cut(v, limits[i]) for i, v in enumerate(row)] for row in body]
    widths = [max([width(h)] + [width(row[i]) for row in body]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *body]:
        parts = [pad(v, widths[i]) if i < last else v for i, v in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
    return lines
