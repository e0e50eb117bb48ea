"""Federal Register API JSON (searches, single documents, the public-inspection desk) to observations.

Only meaningful, stable fields go into ``Observation.fields``: page views, signed or cache-busting
query strings and regulations.gov comment counts change between polls of the same document and
would make every poll look like a revision. Calendar dates stay "YYYY-MM-DD" strings.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from monitor.collectors.parsing import ParseError, ParseResult, clean_text, describe_html, iso_date, parse_date
from monitor.observation import Observation

# The fields[] to request on searches. Every name must be a real API field: an unknown one makes
# the API answer 400 ("field 'rin' not valid").
DEFAULT_FIELDS: list[str] = [
    "document_number",
    "title",
    "type",
    "subtype",
    "action",
    "abstract",
    "dates",
    "publication_date",
    "effective_on",
    "comments_close_on",
    "signing_date",
    "citation",
    "regulation_id_numbers",
    "docket_ids",
    "cfr_references",
    "correction_of",
    "corrections",
    "significant",
    "executive_order_number",
    "presidential_document_number",
    "html_url",
    "pdf_url",
    "agencies",
]

# The API pages at most 50 pages and 10,000 results; past that it silently serves page 1 again.
MAX_PAGE = 50
MAX_RESULTS = 10_000

_SURROGATE = re.compile("[\ud800-\udfff]")
_DOCKET_PREFIX = re.compile(r"^\s*docket\s*(?:no\.?|number|id)?\s*[:#]?\s*", re.IGNORECASE)


def parse_federal_register(body: bytes, *, source: str, url: str) -> ParseResult:
    """Parse a search page, the zero-hit body, a single document or the public-inspection desk."""
    data = _load(body)
    if "errors" in data or ("message" in data and "status" in data and "results" not in data):
        raise ParseError(f"Federal Register API error: {describe_error_body(body)}")

    if "document_number" in data:  # a single document
        obs = _observation(data, source, _is_public_inspection(data, url))
        if obs is None:
            raise ParseError("unexpected JSON shape: a document without a usable document_number")
        return ParseResult([obs])

    if "results" not in data:
        if "count" in data:  # zero hits: the API leaves "results" out entirely
            count = data["count"] if isinstance(data["count"], int) else None
            warnings = [f"count is {count} but the body has no results"] if count else []
            return ParseResult([], warnings, total=count)
        keys = ", ".join(sorted(map(str, data))[:10]) or "none"
        raise ParseError(f"unexpected JSON shape: no 'results', 'count' or 'document_number' (keys: {keys})")

    results = data["results"]
    if not isinstance(results, list):
        raise ParseError(f"unexpected JSON shape: 'results' is {type(results).__name__}, not a list")
    warnings: list[str] = []
    observations: list[Observation] = []
    seen: set[str] = set()
    skipped = 0
    for index, result in enumerate(results):
        obs = _observation(result, source, _is_public_inspection(result, url)) if isinstance(result, dict) else None
        if obs is None:
            skipped += 1
            warnings.append(f"skipped result {index}: not a document with a document_number")
        elif obs.key in seen:
            warnings.append(f"skipped result {index}: document {obs.key} repeats on this page")
        else:
            seen.add(obs.key)
            observations.append(obs)
    count = data.get("count")
    total = count if isinstance(count, int) and not isinstance(count, bool) else None
    if total is not None and total >= MAX_RESULTS:
        warnings.append(f"count is capped at {MAX_RESULTS}; narrow the query to see every document")
    return ParseResult(observations, warnings, next_url=_next_url(data, warnings), total=total, skipped=skipped)


def describe_error_body(body: bytes) -> str:
    """One line from an API error body: {"status":404,"message":...} or {"errors":{...}}."""
    raw = bytes(body or b"")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        page = describe_html(raw)
        if page:
            return page
        text = " ".join(raw[:2000].decode("utf-8", "replace").split())
        return text[:200] or "empty body"
    if isinstance(data, dict):
        if isinstance(data.get("errors"), dict) and data["errors"]:
            parts = [f"{key}: {_join(value)}" for key, value in data["errors"].items()]
            return _line("; ".join(parts))
        if isinstance(data.get("errors"), list) and data["errors"]:
            return _line("; ".join(_join(e) for e in data["errors"]))
        if data.get("message") is not None:
            status = data.get("status")
            suffix = f" (status {status})" if status is not None else ""
            return _line(f"{_join(data['message'])}{suffix}")
    return _line(json.dumps(data, ensure_ascii=False))


# --- pieces ------------------------------------------------------------------------------------

def _load(body: bytes) -> dict[str, Any]:
    raw = bytes(body or b"")
    if not raw.strip():
        raise ParseError("not JSON: the body is empty")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        page = describe_html(raw)
        if page:
            raise ParseError(f"not JSON: {page}") from None
        raise ParseError(f"not JSON: {_line(str(exc))}") from None
    if not isinstance(data, dict):
        raise ParseError(f"unexpected JSON shape: the top level is a {type(data).__name__}, not an object")
    return data


def _is_public_inspection(doc: dict[str, Any], url: str) -> bool:
    return "public-inspection" in url or "filed_at" in doc or "filing_type" in doc


def _observation(doc: dict[str, Any], source: str, public_inspection: bool) -> Observation | None:
    number = doc.get("document_number")
    if not isinstance(number, str) or not number.strip():
        return None
    number = _scrub(number.strip())
    title = clean_text(doc.get("title")) or _pi_title(doc) or number
    summary = clean_text(doc.get("abstract") or doc.get("excerpts"))
    return Observation(
        source=source,
        key=number,
        title=title,
        url=_scrub(_url(doc.get("html_url"))),
        summary=summary,
        language="en",
        published=iso_date(doc.get("publication_date")),
        fields={k: _scrub(v) for k, v in _fields(doc, number, public_inspection).items()},
    )


def _scrub(value: Any) -> Any:
    """Lone surrogates ("\\ud800" escapes) cannot be encoded, hashed or stored: make them U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _pi_title(doc: dict[str, Any]) -> str:
    parts = [clean_text(doc.get(k)) for k in ("toc_subject", "toc_doc", "subject_1", "subject_2", "subject_3")]
    return "; ".join(p for p in parts if p)


def _fields(doc: dict[str, Any], number: str, public_inspection: bool) -> dict[str, Any]:
    """The document's own structured data, normalised; keys appear only if the API sent them."""
    fields: dict[str, Any] = {"document_number": number}
    simple = {
        "type": _str, "subtype": _str, "action": _str, "citation": _str, "significant": _bool,
        "executive_order_number": _scalar, "presidential_document_number": _scalar,
        "effective_on": iso_date, "comments_close_on": iso_date, "signing_date": iso_date,
        "dates": lambda v: clean_text(v) or None, "correction_of": _document_ref,
        "pdf_url": _url,
    }
    for name, convert in simple.items():
        if name in doc:
            fields[name] = convert(doc[name])
    if "regulation_id_numbers" in doc:
        fields["rins"] = _strings(doc["regulation_id_numbers"])
    for name in ("docket_ids", "docket_numbers"):  # the public-inspection desk says docket_numbers
        if name in doc:
            fields["docket_ids"] = _strings(doc[name], _DOCKET_PREFIX)
    if "cfr_references" in doc:
        fields["cfr_references"] = _cfr(doc["cfr_references"])
    if "corrections" in doc:
        fields["corrections"] = [r for r in map(_document_ref, _list(doc["corrections"])) if r]
    if "agencies" in doc or "agency_names" in doc:
        fields["agencies"] = _agencies(doc.get("agencies"), doc.get("agency_names"))
    if public_inspection:
        fields["public_inspection"] = True
        if "filed_at" in doc:
            fields["filed_at"] = parse_date(doc["filed_at"]) if isinstance(doc["filed_at"], str) else None
        if "filing_type" in doc:
            fields["filing_type"] = _str(doc["filing_type"])
    return fields


def _str(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return _str(str(value)) if isinstance(value, (str, int)) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any, prefix: re.Pattern[str] | None = None) -> list[str]:
    out: list[str] = []
    for item in _list(value):
        if not isinstance(item, str):
            continue
        text = " ".join((prefix.sub("", item) if prefix else item).split())
        if text and text not in out:
            out.append(text)
    return out


def _cfr(value: Any) -> list[str]:
    """[{"title": 15, "part": 744}] -> ["15 CFR 744"]."""
    out: list[str] = []
    for ref in _list(value):
        if not isinstance(ref, dict) or ref.get("title") in (None, ""):
            continue
        if ref.get("part") not in (None, ""):
            text = f"{ref['title']} CFR {ref['part']}"
        elif ref.get("chapter") not in (None, ""):
            text = f"{ref['title']} CFR chapter {ref['chapter']}"
        else:
            text = f"{ref['title']} CFR"
        if text not in out:
            out.append(text)
    return out


def _agencies(agencies: Any, names: Any) -> list[str]:
    out: list[str] = []
    for agency in _list(agencies):
        if isinstance(agency, dict):
            label = agency.get("slug") or agency.get("name") or agency.get("raw_name")
        else:
            label = agency
        if isinstance(label, str) and label.strip() and label.strip() not in out:
            out.append(label.strip())
    return out or _strings(names)


def _document_ref(value: Any) -> str | None:
    """A document number from a number or an API/HTML URL (".../documents/2025-00711.json")."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if "/" not in value:
        return value
    try:
        path = urlsplit(value).path
    except ValueError:  # not a URL after all ("http://[::1"): keep it as written, like any other text
        return value
    parts = [p for p in path.split("/") if p]
    if "documents" in parts:
        rest = parts[parts.index("documents") + 1:]
        if len(rest) >= 4 and all(p.isdigit() for p in rest[:3]):  # /documents/2025/01/16/<number>/slug
            rest = rest[3:]
        if rest:
            return rest[0].removesuffix(".json")
    return value


def _url(value: Any) -> str | None:
    """The URL without query or fragment: public-inspection PDFs carry a changing cache-buster."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _next_url(data: dict[str, Any], warnings: list[str]) -> str | None:
    next_url = data.get("next_page_url")
    if not isinstance(next_url, str) or not next_url.strip():
        return None
    try:
        query = parse_qs(urlsplit(next_url).query)
    except ValueError:
        warnings.append("next_page_url is not a URL: stopped")
        return None
    try:
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["20"])[0])
    except ValueError:
        return next_url
    if page > MAX_PAGE or page * per_page > MAX_RESULTS:
        warnings.append(f"stopped paging before page {page}: past page {MAX_PAGE} or result "
                        f"{MAX_RESULTS} the API silently returns page 1 again")
        return None
    return next_url


def _join(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_join(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_join(v)}" for k, v in value.items())
    return str(value)


def _line(text: str) -> str:
    return " ".join(text.split())[:300]
