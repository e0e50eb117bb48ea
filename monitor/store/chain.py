"""The hash chain, as pure functions: what bytes a row is, and how a link is computed.

``hash = sha256(prev_hash + row_bytes)``. ``row_bytes`` is the row's stored values, in column
order, joined by newlines. The header fields are identifiers and timestamps that the store
refuses to accept with a newline or NUL in them, and ``data`` is compact JSON (which escapes
every control character), so the encoding is unambiguous. A NULL ``occurred_at`` is written as a
NUL byte, which no stored text can contain.
"""

from __future__ import annotations

from hashlib import sha256

GENESIS = "0" * 64
_NULL = "\x00"


def row_bytes(
    seq: int,
    event_id: str,
    stream: str,
    stream_version: int,
    type: str,
    schema_version: int,
    occurred_at: str | None,
    recorded_at: str,
    data: str,
) -> bytes:
    occurred = _NULL if occurred_at is None else occurred_at
    return (
        f"{seq}\n{event_id}\n{stream}\n{stream_version}\n{type}\n{schema_version}\n"
        f"{occurred}\n{recorded_at}\n{data}"
    ).encode()


def stored_row_bytes(seq: int, event_id: bytes, stream: bytes, stream_version: int, type: bytes,
                     schema_version: int, occurred_at: bytes | None, recorded_at: bytes, data: bytes) -> bytes:
    """``row_bytes`` of a row read as its stored bytes (``CAST(column AS BLOB)``): the same bytes
    for every sound row, and still a value (that will not match its hash) for a row whose bytes
    were altered into something that is not UTF-8."""
    occurred = _NULL.encode() if occurred_at is None else bytes(occurred_at)
    return b"\n".join((str(seq).encode(), bytes(event_id), bytes(stream), str(stream_version).encode(), bytes(type),
                       str(schema_version).encode(), occurred, bytes(recorded_at), bytes(data)))


def link(prev_hash: str, row: bytes) -> str:
    return sha256(prev_hash.encode() + row).hexdigest()


def link_bytes(prev_hash: str, row: bytes) -> str:
    return sha256(prev_hash.encode("utf-8", "surrogateescape") + row).hexdigest()


def is_clean_header(value: str) -> bool:
    """Header fields must not contain the separators of ``row_bytes``."""
    return "\n" not in value and _NULL not in value
