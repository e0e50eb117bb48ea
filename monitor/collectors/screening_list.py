"""The Consolidated Screening List (CSL) bulk file, JSON, CSV or TSV, into plain records.

Pure: bytes and the response headers in, ``ScreeningParse`` out. Every record becomes one flat
``dict[str, str]`` in the CSV's own vocabulary, whatever the format, so that a JSON file and the
CSV of the same day fingerprint alike:

- ``_id`` (CSV) and ``id`` (JSON) become ``id``;
- JSON lists are joined with ``"; "`` as the CSV joins them (``alt_names``, ``programs``, ...);
  JSON addresses ``{address, city, state, postal_code, country}`` are flattened as the CSV does,
  ``address, city, state, postal_code, CC`` with the empty parts left out; JSON ``ids`` entries
  likewise (``type, number, country``);
- empty cells and nulls are left out; values are kept as published (a trailing space or an
  embedded newline is part of the record and shows in a diff).

A body that is not one of these shapes (not JSON, no ``results``, a CSV without ``source`` and
``name`` columns, a row whose field count differs from the header's: the file was cut short) is a
``ParseError``, so the previous snapshot stays in force: a truncated file must never read as the
removal of every party it lost. A record without a name is skipped with a warning.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from monitor.collectors.parsing import ParseError

MAX_VALUE = 20_000  # characters of one field kept (a longer one is cut, with a warning)
MAX_WARNINGS = 20
# Column order of the CSV bulk file (2022-2025); a record keeps its fields in this order.
COLUMNS = (
    "id", "source", "entity_number", "type", "programs", "name", "title", "addresses",
    "federal_register_notice", "start_date", "end_date", "standard_order", "license_requirement",
    "license_policy", "call_sign", "vessel_type", "gross_tonnage", "gross_registered_tonnage", "vessel_flag",
    "vessel_owner", "remarks", "source_list_url", "alt_names", "citizenships", "dates_of_birth",
    "nationalities", "places_of_birth", "source_information_url", "ids",
)
_LIST_CODE = re.compile(r"\(([^()]+)\)")

csv.field_size_limit(2**24)  # a field may hold many addresses; the body itself is capped upstream


def list_code(source: str) -> str:
    """``"Entity List (EL) - Bureau of Industry and Security"`` -> ``"EL"``; ``"... (NS-MBS List) ..."``
    -> ``"NS-MBS"``; a name with no code in parentheses is its own code, upper-cased."""
    match = _LIST_CODE.search(source)
    code = match.group(1) if match else source
    return " ".join(code.removesuffix(" List").split()).upper()


@dataclass
class ScreeningParse:
    records: list[dict[str, str]]
    format: str  # json, csv, tsv
    total: int = 0  # records in the file, before the list filter
    lists: dict[str, int] = field(default_factory=dict)  # records kept, by list code
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0


def detect_format(body: bytes, headers: Mapping[str, str], option: str = "auto") -> str:
    if option != "auto":
        return option
    content_type = headers.get("content-type", "").lower()
    if "json" in content_type:
        return "json"
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json"
    first_line = head.split(b"\n", 1)[0]
    if "tab-separated" in content_type or (b"\t" in first_line and b"," not in first_line):
        return "tsv"
    return "csv"


def parse_screening_list(body: bytes, *, headers: Mapping[str, str] | None = None, format: str = "auto",
                         lists: Sequence[str] = ()) -> ScreeningParse:
    """The records of a CSL bulk file, only those of ``lists`` (codes, any case) when given."""
    kind = detect_format(body, headers or {}, format)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"the {kind.upper()} file is not UTF-8 (byte {exc.start})") from None
    raw = _json_rows(text) if kind == "json" else _csv_rows(text, "\t" if kind == "tsv" else ",")
    wanted = {code.upper() for code in lists}
    out = ScreeningParse([], kind)
    for position, row in enumerate(raw, 1):
        out.total += 1
        source = _clean(row.get("source"))
        code = list_code(source) if source else ""
        if wanted and code not in wanted:
            continue
        record, cut = _record(row)
        if not record.get("name", "").strip() or not source:
            out.skipped += 1
            _warn(out, f"skipped record {position}: it has no {'name' if source else 'source list'}")
            continue
        if cut:
            _warn(out, f"record {position} ({_short(record['name'])}): {', '.join(cut)} cut to {MAX_VALUE} characters")
        out.records.append(record)
        out.lists[code] = out.lists.get(code, 0) + 1
    if out.total == 0:
        raise ParseError(f"the {kind.upper()} file holds no records")
    if not out.records and not out.skipped and wanted:
        raise ParseError(f"the file holds {out.total} records but none of the lists {', '.join(sorted(wanted))}")
    if not out.records:
        raise ParseError(f"no record could be used ({out.skipped} skipped)")
    return out


def _json_rows(text: str) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"the JSON file does not parse (the file may be cut short): {exc}") from None
    results = data.get("results") if isinstance(data, dict) else data
    if not isinstance(results, list):
        raise ParseError("the JSON file has no \"results\" list (expected the CSL bulk file's shape)")
    rows = []
    for position, item in enumerate(results, 1):
        if not isinstance(item, dict):
            raise ParseError(f"result {position} is not an object")
        rows.append(item)
    return rows


def _csv_rows(text: str, delimiter: str) -> Iterable[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ParseError("the CSV file is empty") from None
    except csv.Error as exc:
        raise ParseError(f"the CSV header does not parse: {exc}") from None
    header = [name.strip() for name in header]
    if "source" not in header or "name" not in header:
        raise ParseError("the CSV header has no \"source\" and \"name\" columns (not a CSL file)")
    width = len(header)
    rows = []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise ParseError(f"CSV line {reader.line_num} has {len(row)} fields, the header {width}: "
                                 "the file looks cut short or malformed")
            rows.append(dict(zip(header, row)))
    except csv.Error as exc:  # an unterminated quote at the end: a truncated download
        raise ParseError(f"CSV line {reader.line_num} does not parse ({exc}): the file looks cut short") from None
    return rows


def _record(row: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    cut = []
    for name, value in row.items():
        name = "id" if name == "_id" else name
        text = _address_text(value) if name == "addresses" else _ids_text(value) if name == "ids" else _value(value)
        if text is None or text == "":
            continue
        if len(text) > MAX_VALUE:
            text, _ = text[:MAX_VALUE], cut.append(name)
        values[name] = text
    order = {name: i for i, name in enumerate(COLUMNS)}
    return dict(sorted(values.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))), cut


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _clean(value, strip=False)
    if isinstance(value, list):
        return "; ".join(t for t in (_value(v) for v in value) if t)
    if isinstance(value, dict):
        return ", ".join(t for t in (_value(v) for v in value.values()) if t)
    return str(value)


def _address_text(value: Any) -> str | None:
    if not isinstance(value, list):
        return _value(value)
    parts = []
    for one in value:
        if isinstance(one, dict):
            fields = (one.get(k) for k in ("address", "city", "state", "postal_code", "country"))
            parts.append(", ".join(t for t in (_value(f) for f in fields) if t))
        else:
            parts.append(_value(one) or "")
    return "; ".join(p for p in parts if p)


def _ids_text(value: Any) -> str | None:
    if not isinstance(value, list):
        return _value(value)
    parts = []
    for one in value:
        if isinstance(one, dict):
            fields = (one.get(k) for k in ("type", "number", "country"))
            parts.append(", ".join(t for t in (_value(f) for f in fields) if t))
        else:
            parts.append(_value(one) or "")
    return "; ".join(p for p in parts if p)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean(value: Any, *, strip: bool = True) -> str:
    """Text as published, less what could never be a character of a name (C0 controls other than
    tab and line breaks, DEL, lone surrogates)."""
    text = _CONTROL.sub("", value) if isinstance(value, str) else "" if value is None else str(value)
    return text.strip() if strip else text


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"


def _warn(out: ScreeningParse, message: str) -> None:
    if len(out.warnings) < MAX_WARNINGS:
        out.warnings.append(message)
