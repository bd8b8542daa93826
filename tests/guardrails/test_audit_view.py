"""The audit view masks payloads by the policy: keys exactly, free text by pattern where its author could see more."""

from __future__ import annotations

import pytest

from guardrails.audit.chain import AuditRecord
from guardrails.audit_view import AuditReader
from tests.policy_helpers import shipped_policy

POLICY = shipped_policy()


def _record(author: str, payload: dict[str, object]) -> AuditRecord:
    return AuditRecord(1, "2026-03-02T06:00:00.000000+00:00", "tr", None, author, "answer", payload, "p", "0" * 64,
                       "1" * 64)


def _text(reader: str | None, author: str, text: str) -> tuple[str, tuple[str, ...]]:
    view = AuditReader(POLICY, POLICY.user(reader) if reader else None).view(_record(author, {"text": text}))
    return str(view.payload["text"]), view.masked_fields


@pytest.mark.parametrize(("author", "text", "shown"), [
    ("bea.buyer", "12.5 USD/unit, PO price 12.50 vs list 12.00 USD", "*** USD/unit, PO price *** vs list *** USD"),
    ("bea.buyer", "at $1,200.50 each; 3 open of 12,042; due 2026-03-04",
     "at $*** each; 3 open of 12,042; due 2026-03-04"),
    ("fay.finance", "paid to ACCT 1234567890, CLABE 002180700000000001", "paid to ACCT ***, CLABE ***"),
    ("fay.finance", "IBAN DE89 3704 0044 0532 0130 00", "IBAN ***"),
    # A planner sees no price: whatever number their text holds is no price of the plant's.
    ("pat.planner", "12.5 USD/unit", "12.5 USD/unit"),
    # Someone the policy no longer knows may have seen anything.
    ("gone.user", "12.5 USD/unit", "*** USD/unit"),
])
def test_free_text_is_masked_by_what_its_author_could_see(author: str, text: str, shown: str) -> None:
    assert _text("ada.auditor", author, text)[0] == shown


def test_keys_are_masked_whoever_wrote_them_and_a_reader_sees_what_the_policy_shows() -> None:
    payload = {"subject": {"value_usd": 1200.0, "site_id": "P100"}, "changed": [{"after": {"unit_price": 3.2}}]}
    auditor = AuditReader(POLICY, POLICY.user("ada.auditor")).view(_record("pat.planner", payload))
    assert auditor.payload == {"subject": {"value_usd": "***", "site_id": "P100"},
                               "changed": [{"after": {"unit_price": "***"}}]}
    assert "items.standard_cost" in auditor.masked_fields and "po_lines.unit_price" in auditor.masked_fields
    finance = AuditReader(POLICY, POLICY.user("fay.finance")).view(_record("pat.planner", payload))
    assert finance.payload == payload and finance.masked_fields == ()
    nobody = AuditReader(POLICY, None)
    assert nobody.hidden == POLICY.sensitive_fields()
    assert _text(None, "fay.finance", "12.5 USD/unit")[0] == "*** USD/unit"
