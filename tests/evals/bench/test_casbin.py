"""The pycasbin export decides exactly as our gate, and the check would notice if it did not."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.bench.casbin_rbac import (
    casbin_enforcer,
    casbin_rules,
    check_equivalence,
    compare_latency,
    requests_for,
)
from evals.bench.gate import large_policy
from tests.policy_helpers import shipped_policy
from tools import default_catalog

pytest.importorskip("casbin")


def test_default_policy_export_is_equivalent_on_every_request() -> None:
    policy, catalog = shipped_policy(), default_catalog()
    requests = requests_for(policy, catalog)
    assert len(requests) == len(policy.users) * (len(catalog.names) + 1) * len(policy.sites)
    enforcer = casbin_enforcer(policy, catalog)
    assert check_equivalence(policy, catalog, requests, enforcer) == []
    allowed = sum(bool(enforcer.enforce(r.user, r.tool, r.site)) for r in requests)
    assert 0 < allowed < len(requests)  # both answers occur, so agreement is not trivial


def test_the_check_catches_a_wrong_export() -> None:
    policy, catalog = shipped_policy(), default_catalog()
    enforcer = casbin_enforcer(policy, catalog)
    p_lines, _, _ = casbin_rules(policy, catalog)
    deny = next(line for line in p_lines if line[3] == "deny")  # planner may not see supplier scorecards
    enforcer.remove_policy(*deny)
    mismatches = check_equivalence(policy, catalog, requests_for(policy, catalog), enforcer)
    assert mismatches and all(m.casbin_allows and not m.gate_allows for m in mismatches)
    assert {m.request.tool for m in mismatches} == {deny[1]}


def test_large_policy_sample_is_equivalent_and_latency_is_measured(tmp_path: Path) -> None:
    catalog = default_catalog()
    policy = large_policy(tmp_path / "p", catalog, rules=200)
    requests = requests_for(policy, catalog, limit=12, seed=3)
    assert len(requests) == 12
    assert check_equivalence(policy, catalog, requests) == []
    result = compare_latency(policy, catalog, requests, rounds=1)
    assert result.requests == 12 and result.ours_p50_us > 0 and result.casbin_p50_us > 0
