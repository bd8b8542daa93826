"""Document citations in answers: grounded only when this turn retrieved that section."""

from __future__ import annotations

import json

from agent.grounding import check_grounding, collect_evidence

RESULT = {"status": "ok", "hits": [
    {"citation": "QP-004 §3", "doc_id": "QP-004", "section": "3",
     "text": "QP-004 Quality hold — Placing the hold\nWithin 4 hours, check the lot genealogy upstream."},
]}


def test_retrieved_section_citations_are_grounded() -> None:
    evidence = collect_evidence([json.dumps(RESULT)])
    report = check_grounding('Per the SOP: "Within 4 hours, check the lot genealogy upstream." [QP-004 §3]', evidence)
    assert report.unverified == () and report.citations == ("QP-004 §3",)


def test_unretrieved_sections_and_documents_are_unverified() -> None:
    evidence = collect_evidence([json.dumps(RESULT)])
    report = check_grounding("See [QP-004 §5] and QP-009; containment within 6 hours.", evidence)
    assert report.unverified == ("QP-004 §5", "QP-009", "6")
    assert report.citations == ()
    assert "QP-004 §5 [unverified]" in report.text


def test_a_quote_must_be_verbatim_to_carry_its_figures() -> None:
    evidence = collect_evidence([json.dumps(RESULT)])
    report = check_grounding('"Within 9 hours, check the lot genealogy upstream." [QP-004 §3]', evidence)
    assert report.unverified == ("9",)
    removed = check_grounding('"Within 9 hours, check the lot genealogy upstream."', evidence, mode="remove")
    assert "9 hours" not in removed.text
