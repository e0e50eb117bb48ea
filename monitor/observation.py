"""What a collector saw: one item of one source, as plain data.

Collectors produce ``Observation`` records and never touch the database; detection and the store
decide what they mean. ``fields`` holds the source's own structured data (Federal Register
document number, type, action, RINs, docket ids, citation, effective date, comment close date,
correction_of, MOFCOM announcement number, ...), already normalised and free of volatile values
(page views, signed query strings, comment counts), so that ``content_hash`` changes only when
the item really changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping


CONTENT_KEYS = ("title", "url", "summary", "language", "published", "updated", "fields")


@dataclass(frozen=True, slots=True)
class Observation:
    source: str
    key: str
    title: str
    url: str | None = None
    summary: str = ""
    language: str | None = None  # "en" or "zh" when known
    published: str | None = None  # ISO date ("2025-01-15") or UTC datetime ("...Z")
    updated: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    # content_hash once known: no part of the observation's value, and never copied by
    # dataclasses.replace (init=False), so an observation made from another hashes afresh.
    _content_hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def content(self) -> dict[str, Any]:
        """The meaningful content: what a revision is measured against."""
        return {
            "title": self.title,
            "url": self.url,
            "summary": self.summary,
            "language": self.language,
            "published": self.published,
            "updated": self.updated,
            "fields": dict(self.fields),
        }

    @staticmethod
    def content_of(data: Mapping[str, Any]) -> dict[str, Any]:
        """The content part of a recorded item event (which carries more than the content)."""
        return {key: data.get(key) for key in CONTENT_KEYS}

    def content_hash(self) -> str:
        """The digest of ``content()``, computed once (an observation is immutable)."""
        if self._content_hash is None:
            canonical = json.dumps(self.content(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            object.__setattr__(self, "_content_hash", hashlib.sha256(canonical.encode()).hexdigest())
        return self._content_hash

    def knowing_hash(self, content_hash: str) -> "Observation":
        """This observation, told its content hash by whoever hashed the very same content before
        (a feed parse's memory of an entry whose bytes did not change). Returns self."""
        object.__setattr__(self, "_content_hash", content_hash)
        return self
