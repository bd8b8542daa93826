"""The publication gate and the policy's ``knowledge:`` section: who may publish which document, deny by default,
and which replacements need an owner's approval."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from guardrails.errors import PolicyError
from guardrails.gate import Effect
from guardrails.policy.loader import default_policy_dir, load_policy
from guardrails.publishing.gate import SYSTEM_PUBLISHER, PublicationGate
from knowledge.documents import Document, parse_document
from knowledge.provenance import PublishedDocument
from tests.policy_helpers import policy_user, shipped_policy

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
GATE = PublicationGate(shipped_policy())
RULES = "enterprise.yaml#knowledge.domains"


def doc(doc_id: str = "QP-004", *, sites: str = "[P100]", domains: str = "[quality, production, inventory]",
        revision: str = "E", body: str = "Seal-defect lots stay on hold until quality releases them.") -> Document:
    return parse_document(f"---\nid: {doc_id}\ntitle: Quality hold\nsites: {sites}\ndomains: {domains}\n"
                          f"roles: ['*']\nrevision: {revision}\neffective: 2026-03-01\n---\n\n## 1. Rule\n{body}\n")


def published(document: Document, by: str = SYSTEM_PUBLISHER) -> PublishedDocument:
    return PublishedDocument(doc_id=document.doc_id, title=document.title, revision=document.revision,
                             content_hash=document.content_hash, sites=document.sites, domains=document.domains,
                             roles=document.roles, source="corpus", published_by=by, published_at="", request_id="",
                             approved_by=())


OFFICIAL = doc(sites="['*']", revision="D", body="Only quality releases a held lot.")


@pytest.mark.parametrize(("user", "document", "rule_id", "says"), [
    ("pat.planner", doc(), f"{RULES}.quality.publishers", "may not publish quality documents"),
    ("ian.admin", doc(), f"{RULES}.quality.publishers", "may not publish quality documents"),
    ("quinn.quality", doc(sites="['*']"), "gate.no_site_access", "applies to every site"),
    ("quinn.quality", doc(sites="[P100, P200]"), "gate.no_site_access", "P200, outside your sites (P100)"),
    ("qiu.quality", doc(), "gate.no_site_access", "P100, outside your sites (P200)"),
    # a document for everyone (general) is owned by general, whatever else it is tagged with
    ("quinn.quality", doc(domains="[quality, general]"), f"{RULES}.general.publishers", "general documents"),
    ("quinn.quality", doc(domains="[sales]"), "gate.default_deny", "No policy rule lets anyone publish"),
])
def test_refusals_name_their_rule(user: str, document: Document, rule_id: str, says: str) -> None:
    decision = GATE.decide(policy_user(user), document, None, now=NOW)
    assert (decision.effect, decision.outcome, decision.rule_id) == (Effect.DENY, "refused", rule_id)
    assert says in decision.reason and not decision.publishes


def test_a_new_document_within_the_publishers_domain_and_sites_is_published() -> None:
    decision = GATE.decide(policy_user("quinn.quality"), doc("QP-010"), None, now=NOW)
    assert (decision.effect, decision.outcome, decision.rule_id) == (Effect.ALLOW, "new", f"{RULES}.quality.publishers")
    assert decision.publishes
    # an enterprise-wide general document needs a publisher holding every site
    decision = GATE.decide(policy_user("eve.exec"), doc("GOV-010", sites="['*']", domains="[general]"), None, now=NOW)
    assert decision.outcome == "new" and decision.rule_id == f"{RULES}.general.publishers"


def test_a_replacement_waits_for_an_owner_other_than_the_requester() -> None:
    decision = GATE.decide(policy_user("quinn.quality"), doc(), published(OFFICIAL), now=NOW)
    assert (decision.effect, decision.outcome, decision.rule_id) == (
        Effect.NEEDS_APPROVAL, "replacement", f"{RULES}.quality.owners")
    assert decision.route is not None and not decision.publishes
    [group] = decision.route.groups
    # QP-004 applies to every site: any quality engineer but quinn may approve
    assert (group.roles, group.site, group.eligible_user_ids) == (("quality_engineer",), None, ("qiu.quality",))
    assert decision.route.expires_at == datetime(2026, 3, 5, 6, 0, tzinfo=UTC)
    assert "rev D is published (by system:jidoka)" in decision.reason


def test_the_published_documents_owners_decide_not_the_new_tags() -> None:
    # a P100 maintenance procedure retagged as quality by quinn: maintenance owners at P100 approve it
    maintenance = doc("MP-106", sites="[P100]", domains="[maintenance, production]", revision="B")
    decision = GATE.decide(policy_user("quinn.quality"), doc("MP-106", domains="[quality]"), published(maintenance),
                           now=NOW)
    assert decision.rule_id == f"{RULES}.maintenance.owners" and decision.route is not None
    [group] = decision.route.groups
    assert group.site == "P100" and group.eligible_user_ids == ("max.maint", "sam.supervisor")


def test_no_owner_but_the_requester_refuses_the_replacement() -> None:
    p100_only = published(doc(sites="[P100]", revision="D", body="Only quality releases a held lot."))
    decision = GATE.decide(policy_user("quinn.quality"), doc(), p100_only, now=NOW)
    assert (decision.effect, decision.rule_id) == (Effect.DENY, f"{RULES}.quality.owners")
    assert "nobody other than you" in decision.reason


def test_unchanged_content_changes_nothing_but_refusals_come_first() -> None:
    same = published(doc())
    decision = GATE.decide(policy_user("quinn.quality"), doc(), same, now=NOW)
    assert (decision.effect, decision.outcome, decision.rule_id) == (Effect.ALLOW, "unchanged", "knowledge.unchanged")
    assert GATE.decide(policy_user("pat.planner"), doc(), same, now=NOW).outcome == "refused"
    # any change is a replacement, another revision letter with the same text too; at P100 quinn is the only
    # quality engineer, so nobody could approve his replacement of a P100-only quality document
    refused = GATE.decide(policy_user("quinn.quality"), doc(revision="F"), same, now=NOW)
    assert refused.rule_id == f"{RULES}.quality.owners" and "nobody other than you" in refused.reason
    assert GATE.decide_shipped(doc(revision="F"), same).outcome == "replacement"


def test_the_system_publisher_never_replaces_a_persons_publication() -> None:
    assert GATE.decide_shipped(OFFICIAL, None).outcome == "new"
    assert GATE.decide_shipped(OFFICIAL, published(OFFICIAL)).outcome == "unchanged"
    assert GATE.decide_shipped(OFFICIAL, published(doc(revision="C"))).outcome == "replacement"
    assert GATE.decide_shipped(OFFICIAL, published(doc(revision="C"), by="")).outcome == "replacement"
    kept = GATE.decide_shipped(OFFICIAL, published(doc(), by="quinn.quality"))
    assert (kept.effect, kept.outcome, kept.rule_id) == (Effect.DENY, "kept", "knowledge.system_keeps_published")


# ---- the policy data ----------------------------------------------------------------------------------------

@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    return target


def _edit(path: Path, change: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text()) or {}
    data.update(change)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_plant_layer_tightens_publishing_by_removing_the_permission(policy_dir: Path) -> None:
    _edit(policy_dir / "plants" / "P200.yaml", {"roles": {"quality_engineer": {"permissions": []}}})
    gate = PublicationGate(load_policy(policy_dir))
    policy = gate.policy
    refused = gate.decide(policy.user("qiu.quality"), doc("QP-010", sites="[P200]"), None, now=NOW)
    assert (refused.rule_id, refused.outcome) == ("gate.no_site_access", "refused") and "At P200" in refused.reason
    assert gate.decide(policy.user("quinn.quality"), doc("QP-010"), None, now=NOW).outcome == "new"


@pytest.mark.parametrize(("where", "change", "key", "says"), [
    ("plants/P100.yaml", {"knowledge": {"domains": {}}}, "knowledge", "enterprise.yaml only"),
    ("enterprise.yaml", {"knowledge": {"domains": {"quality": {"publishers": ["planner"], "owners": ["planner"]}}}},
     "knowledge.domains.quality.publishers", "lacks knowledge.publish"),
    ("enterprise.yaml", {"knowledge": {"domains": {"quality": {"publishers": [], "owners": ["nobody"]}}}},
     "knowledge.domains.quality.owners", "unknown role 'nobody'"),
    ("enterprise.yaml", {"knowledge": {"domains": {"quality": {"publishers": []}}}},
     "knowledge.domains.quality.owners", "must be a list of role names"),
    ("enterprise.yaml", {"knowledge": {"expires_hours": 0}}, "knowledge.expires_hours", ">= 1"),
])
def test_a_bad_knowledge_section_fails_with_file_and_key(policy_dir: Path, where: str, change: dict[str, object],
                                                         key: str, says: str) -> None:
    _edit(policy_dir / where, change)
    with pytest.raises(PolicyError) as info:
        PublicationGate(load_policy(policy_dir))
    assert info.value.file == where and info.value.key == key and says in info.value.message
