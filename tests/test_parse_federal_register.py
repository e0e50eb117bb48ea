"""parse_federal_register and describe_error_body against the recorded API responses."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collectors.federal_register import DEFAULT_FIELDS, describe_error_body, parse_federal_register
from monitor.collectors.parsing import ParseError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "federal-register"
API = "https://www.federalregister.gov/api/v1"
SEARCH_URL = f"{API}/documents.json?conditions[agencies][]=industry-and-security-bureau&order=newest"
PI_URL = f"{API}/public-inspection-documents/current.json"


def fixture(name: str) -> bytes:
    return (SHARED / name).read_bytes()


def parse(body: bytes, url: str = SEARCH_URL):
    return parse_federal_register(body, source="fr-bis", url=url)


def test_every_json_fixture_parses_or_is_described():
    for path in sorted(SHARED.glob("*.json")):
        body = path.read_bytes()
        if "_400_" in path.name or "_404" in path.name:
            with pytest.raises(ParseError):
                parse(body)
            assert describe_error_body(body)
        else:
            url = PI_URL if "public_inspection" in path.name else SEARCH_URL
            result = parse(body, url)
            assert all(o.key and o.language == "en" for o in result.observations), path.name


# --- searches ----------------------------------------------------------------------------------

def test_search_page1_has_next_page_and_total():
    result = parse(fixture("fr_documents_bis_advanced_computing_page1.json"))
    assert result.total == 5
    assert result.next_url.startswith(f"{API}/documents.json?") and "page=2" in result.next_url
    assert [o.key for o in result.observations] == ["2026-00789", "2025-00711", "2025-00636"]
    assert result.warnings == []


def test_search_page2_is_the_last_page():
    result = parse(fixture("fr_documents_bis_advanced_computing_page2.json"))
    assert result.next_url is None and result.total == 5
    assert [o.key for o in result.observations] == ["2024-28270", "2022-21658"]


def test_search_result_observation_is_normalised():
    result = parse(fixture("fr_documents_bis_advanced_computing_page1.json"))
    diffusion = next(o for o in result.observations if o.key == "2025-00636")
    assert diffusion.source == "fr-bis"
    assert diffusion.title == "Framework for Artificial Intelligence Diffusion"
    assert diffusion.url == (
        "https://www.federalregister.gov/documents/2025/01/15/2025-00636/framework-for-artificial-intelligence-diffusion")
    assert diffusion.summary.startswith("[PARAPHRASED]")
    assert diffusion.language == "en"
    assert diffusion.published == "2025-01-15"  # a calendar date, not a timestamp
    fields = diffusion.fields
    assert fields["document_number"] == "2025-00636"
    assert fields["type"] == "Rule"
    assert fields["action"] == "Interim final rule; request for comments."
    assert fields["rins"] == ["0694-AJ90"]
    assert fields["docket_ids"] == ["250107-0007"]
    assert fields["citation"] == "90 FR 4544"
    assert fields["effective_on"] == "2025-01-13"  # before publication, as the API says
    assert fields["comments_close_on"] == "2025-05-15"
    assert fields["agencies"] == ["commerce-department", "industry-and-security-bureau"]
    assert fields["pdf_url"] == "https://www.govinfo.gov/content/pkg/FR-2025-01-15/pdf/2025-00636.pdf"


def test_zero_hits_body_without_results_is_an_empty_result():
    result = parse(fixture("fr_documents_empty.json"))
    assert result.observations == [] and result.total == 0
    assert result.next_url is None and result.warnings == []


def test_pager_stops_before_the_silent_wraparound():
    body = json.loads(fixture("fr_documents_bis_advanced_computing_page1.json"))
    body["next_page_url"] = f"{API}/documents.json?page=51&per_page=100"
    result = parse(json.dumps(body).encode())
    assert result.next_url is None
    assert any("page 1 again" in w for w in result.warnings)
    body["next_page_url"] = f"{API}/documents.json?page=11&per_page=1000"
    assert parse(json.dumps(body).encode()).next_url is None


def test_results_without_document_number_are_skipped_with_a_warning():
    body = {"count": 3, "results": [{"title": "no number"}, "junk",
                                    {"document_number": "2025-00636", "title": "X"}]}
    result = parse(json.dumps(body).encode())
    assert [o.key for o in result.observations] == ["2025-00636"]
    assert len(result.warnings) == 2


# --- single documents ------------------------------------------------------------------------------

def test_single_document_proposed_rule():
    [obs] = parse(fixture("fr_document_2024-01580.json")).observations
    assert obs.key == "2024-01580"
    assert obs.published == "2024-01-29"
    fields = obs.fields
    assert fields["type"] == "Proposed Rule"
    assert fields["action"] == "Proposed rule; request for comments."
    assert fields["rins"] == ["0694-AJ35"]
    assert fields["docket_ids"] == ["240119-0020"]
    assert fields["cfr_references"] == ["15 CFR 7"]
    assert fields["comments_close_on"] == "2024-04-29"
    assert fields["effective_on"] is None
    assert fields["correction_of"] is None and fields["corrections"] == []
    assert fields["significant"] is None
    assert fields["dates"] == "Comments must be received April 29, 2024."
    assert "page_views" not in fields and "public_inspection_pdf_url" not in fields
    assert "regulations_dot_gov_info" not in fields


def test_single_document_final_rule():
    [obs] = parse(fixture("fr_document_2026-00789.json"), f"{API}/documents/2026-00789.json").observations
    assert obs.fields["cfr_references"] == ["15 CFR 742", "15 CFR 744", "15 CFR 748"]
    assert obs.fields["effective_on"] == "2026-01-15"
    assert obs.fields["citation"] == "91 FR 1684"
    assert "public_inspection" not in obs.fields


def test_volatile_fields_do_not_change_the_content_hash():
    original = json.loads(fixture("fr_document_2024-01580.json"))
    polled_later = copy.deepcopy(original)
    polled_later["page_views"] = {"count": 5123, "last_updated": "2024-02-03 11:15:00 -0500"}
    polled_later["pdf_url"] += "?1706540400"
    polled_later["public_inspection_pdf_url"] += "?1706540401"
    polled_later["regulations_dot_gov_info"] = {"docket_id": "DOC-2021-0007", "comments_count": 58,
                                                "checked_regulationsdotgov_at": "2024-02-03T16:00:00Z"}
    polled_later = dict(reversed(list(polled_later.items())))  # key order is not to be relied on
    [before] = parse(json.dumps(original).encode()).observations
    [after] = parse(json.dumps(polled_later).encode()).observations
    assert before.content_hash() == after.content_hash()

    corrected = copy.deepcopy(original)
    corrected["comments_close_on"] = "2024-05-29"
    [changed] = parse(json.dumps(corrected).encode()).observations
    assert changed.content_hash() != before.content_hash()


def test_corrections_and_correction_of_become_document_numbers():
    doc = {
        "document_number": "2025-02655", "title": "Implementation of Additional Due Diligence Measures",
        "type": "Rule", "action": "Correcting amendment.",
        "correction_of": f"{API}/documents/2025-00711.json",
        "corrections": ["https://www.federalregister.gov/documents/2025/03/01/2025-03000/some-slug", "2025-04000"],
        "docket_ids": ["Docket No.  250108-0013 ", "docket number: 250108-0014", "BIS-2025-0001"],
        "regulation_id_numbers": ["0694-AJ98", "0694-AJ98"],
        "significant": False,
    }
    [obs] = parse(json.dumps(doc).encode(), f"{API}/documents/2025-02655.json").observations
    assert obs.fields["correction_of"] == "2025-00711"
    assert obs.fields["corrections"] == ["2025-03000", "2025-04000"]
    assert obs.fields["docket_ids"] == ["250108-0013", "250108-0014", "BIS-2025-0001"]
    assert obs.fields["rins"] == ["0694-AJ98"]
    assert obs.fields["significant"] is False


def test_a_reference_that_only_looks_like_a_url_is_kept_as_written():
    """Found by the hostile-field property: urlsplit refuses "http://[::1" (an unclosed IPv6 host)."""
    doc = {"document_number": "2025-02655", "title": "A correction", "type": "Rule", "action": "Correcting amendment.",
           "correction_of": "http://[::1", "corrections": ["http://[::1/documents/x"],
           "next_page_url": None}
    [obs] = parse(json.dumps(doc).encode(), f"{API}/documents/2025-02655.json").observations
    assert obs.fields["correction_of"] == "http://[::1"
    page = {"count": 1, "results": [doc], "next_page_url": "http://[::1/documents.json?page=2"}
    result = parse(json.dumps(page).encode())
    assert len(result.observations) == 1 and result.next_url is None
    assert any("next_page_url is not a URL" in w for w in result.warnings)


# --- public inspection -------------------------------------------------------------------------------

def test_public_inspection_desk():
    result = parse(fixture("fr_public_inspection_current.json"), PI_URL)
    [obs] = result.observations
    assert result.total == 1 and result.next_url is None
    assert obs.key == "2025-00636"
    assert obs.title == "Framework for Artificial Intelligence Diffusion"
    assert obs.url == "https://www.federalregister.gov/public-inspection/2025-00636/framework-for-artificial-intelligence-diffusion"
    assert obs.published == "2025-01-15"
    fields = obs.fields
    assert fields["public_inspection"] is True
    assert fields["filed_at"] == "2025-01-10T16:15:00Z"
    assert fields["filing_type"] == "special"
    assert fields["docket_ids"] == ["250107-0007"]
    assert fields["type"] == "Rule"
    assert fields["pdf_url"] == "https://public-inspection.federalregister.gov/2025-00636.pdf"
    assert "pdf_updated_at" not in fields and "num_pages" not in fields


def test_public_inspection_cache_buster_does_not_change_the_hash():
    data = json.loads(fixture("fr_public_inspection_current.json"))
    later = copy.deepcopy(data)
    later["results"][0]["pdf_url"] = "https://public-inspection.federalregister.gov/2025-00636.pdf?1736799999"
    later["results"][0]["pdf_updated_at"] = "2025-01-13T20:26:39Z"
    later["special_filings_updated_at"] = "2025-01-13T15:30:00.000-05:00"
    [a] = parse(json.dumps(data).encode(), PI_URL).observations
    [b] = parse(json.dumps(later).encode(), PI_URL).observations
    assert a.content_hash() == b.content_hash()


# --- errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, text", [
    ("fr_document_404.json", "Record Not Found (status 404)"),
    ("fr_documents_400_bad_field.json", "field 'rin' not valid (status 400)"),
    ("fr_documents_400_bad_agency.json", "agencies: invalid value"),
    ("fr_documents_400_unknown_condition.json", "agency: is not a valid field"),
])
def test_error_bodies_are_described_in_the_apis_words(name, text):
    assert describe_error_body(fixture(name)) == text
    with pytest.raises(ParseError, match="Federal Register API error"):
        parse(fixture(name))


@pytest.mark.parametrize("body, text", [
    (b"<html><head><title>503 Service Unavailable</title></head></html>",
     "the body is an HTML page (<title>503 Service Unavailable</title>)"),
    (b"upstream connect error\nor disconnect", "upstream connect error or disconnect"),
    (b"", "empty body"),
    (b"\xff\xfe\x00", "\ufffd\ufffd"),
    (b'["a", "b"]', '["a", "b"]'),
    (b'{"errors": ["bad per_page", "bad page"]}', "bad per_page; bad page"),
])
def test_describe_error_body_is_safe_on_anything(body, text):
    assert describe_error_body(body).startswith(text)


@pytest.mark.parametrize("body, words", [
    (b"", "empty"),
    (b"{not json", "not JSON"),
    (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>", "Just a moment"),
    (b"[1, 2]", "top level is a list"),
    (b'{"foo": 1}', "unexpected JSON shape"),
    (b'{"results": {"a": 1}}', "'results' is dict"),
    (b'{"document_number": 7}', "document_number"),
    (b"\xff\xfe\xfd", "not JSON"),
])
def test_malformed_bodies_are_parse_errors(body, words):
    with pytest.raises(ParseError, match=words):
        parse(body)


def test_default_fields_are_all_real_api_fields():
    known = set(json.loads(fixture("fr_document_2024-01580.json")))  # a full document has every field
    assert set(DEFAULT_FIELDS) <= known
    for needed in ("document_number", "title", "type", "action", "abstract", "dates", "publication_date",
                   "effective_on", "comments_close_on", "citation", "regulation_id_numbers", "docket_ids",
                   "cfr_references", "correction_of", "corrections", "significant", "html_url", "pdf_url",
                   "agencies"):
        assert needed in DEFAULT_FIELDS
    assert "page_views" not in DEFAULT_FIELDS
    assert len(DEFAULT_FIELDS) == len(set(DEFAULT_FIELDS))


def test_rss_of_the_same_source_goes_through_parse_feed():
    from monitor.collectors.feed import parse_feed

    result = parse_feed(fixture("fr_bis_documents.rss"), source="fr-rss", url=f"{API}/documents.rss")
    [obs] = result.observations
    assert obs.summary and "&lt;" not in obs.summary and "<" not in obs.summary


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters(exclude_categories=()), max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["results", "count", "document_number", "title", "agencies", "cfr_references",
                         "docket_ids", "docket_numbers", "corrections", "correction_of", "pdf_url",
                         "next_page_url", "filed_at", "errors", "status", "message", "publication_date",
                         "regulation_id_numbers", "slug", "part"]), inner, max_size=6),
    max_leaves=20)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, st.sampled_from([SEARCH_URL, PI_URL]))
def test_any_json_gives_a_result_or_a_parse_error(value, url):
    body = json.dumps(value).encode()
    assert isinstance(describe_error_body(body), str)
    try:
        result = parse(body, url)
    except ParseError:
        return
    for obs in result.observations:
        obs.content_hash()
