"""The same decisions in pycasbin: an RBAC-with-domains model exported from our policy, checked for equivalence.

The export is the textbook casbin layout for our policy's shape:

- ``g, user, role, site``: the user holds ``role`` at each site they may see (RBAC with domains);
- ``g2, tool, domain``: each read tool belongs to its data domain;
- ``p, role, domain-or-tool, site, allow|deny``: what each role is granted (whole domains or single tools) and
  denied (single tools) at each site, after the plant layer of that site tightened it.

A request is ``(user, tool, site)``; our gate answers the same request as ``decide(user, tool, {"site_id": site})``.
The effect is deny-overrides (``some allow and no deny``), which equals our gate for users holding one role — every
user of the policies benchmarked here (:func:`check_equivalence` proves it on the requests it is given).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evals.bench.stats import percentile
from guardrails.gate import Effect, Gate
from guardrails.identity import User
from guardrails.policy.loader import Policy
from tools.catalog import Catalog

__all__ = ["MODEL_TEXT", "CasbinRequest", "LatencyComparison", "Mismatch", "casbin_enforcer", "casbin_rules",
           "check_equivalence", "compare_latency", "requests_for"]

MODEL_TEXT = """
[request_definition]
r = sub, obj, dom

[policy_definition]
p = sub, obj, dom, eft

[role_definition]
g = _, _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && g2(r.obj, p.obj)
"""
"""RBAC with domains (sites), tools grouped into data domains, deny-overrides."""


@dataclass(frozen=True)
class CasbinRequest:
    """One access question asked of both engines."""

    user: str
    tool: str
    site: str


@dataclass(frozen=True)
class Mismatch:
    """A request on which pycasbin and our gate disagree."""

    request: CasbinRequest
    gate_allows: bool
    casbin_allows: bool


def casbin_rules(policy: Policy, catalog: Catalog) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """The ``p``, ``g`` and ``g2`` lines equivalent to ``policy`` over ``catalog``'s read tools."""
    read_tools = {s.name: s.domain for s in catalog if s.risk_class == "read"}
    p_lines: list[list[str]] = []
    for site in sorted(policy.sites):
        for name, role in sorted(policy.roles_at(site).items()):
            p_lines += [[name, domain, site, "allow"] for domain in sorted(role.domains)]
            p_lines += [[name, tool, site, "allow"] for tool in sorted(role.tools) if tool in read_tools]
            p_lines += [[name, tool, site, "deny"] for tool in sorted(role.deny_tools) if tool in read_tools]
    g_lines = [[user.user_id, role, site] for user in policy.users.values()
               for site in sorted(policy.user_sites(user)) for role in sorted(user.roles)]
    g2_lines = [[tool, domain] for tool, domain in sorted(read_tools.items())]
    return p_lines, g_lines, g2_lines


def casbin_enforcer(policy: Policy, catalog: Catalog) -> Any:
    """A pycasbin ``Enforcer`` holding the exported model and rules (raises ImportError without pycasbin)."""
    import casbin
    from casbin.model import Model

    model = Model()
    model.load_model_from_text(MODEL_TEXT)
    enforcer = casbin.Enforcer(model)
    p_lines, g_lines, g2_lines = casbin_rules(policy, catalog)
    enforcer.add_policies(p_lines)
    enforcer.add_named_grouping_policies("g", g_lines)
    enforcer.add_named_grouping_policies("g2", g2_lines)
    return enforcer


def requests_for(policy: Policy, catalog: Catalog, *, limit: int | None = None, seed: int = 7) -> list[CasbinRequest]:
    """Every (user, tool, site) of the policy — plus an unknown tool — or a seeded sample of ``limit`` of them."""
    tools = [*catalog.names, "no_such_tool"]
    every = [CasbinRequest(u, t, s) for u in sorted(policy.users) for t in tools for s in sorted(policy.sites)]
    if limit is None or limit >= len(every):
        return every
    return random.Random(seed).sample(every, limit)


def _gate_allows(gate: Gate, user: User, request: CasbinRequest) -> bool:
    return gate.decide(user, request.tool, {"site_id": request.site}).effect is Effect.ALLOW


def check_equivalence(policy: Policy, catalog: Catalog, requests: Sequence[CasbinRequest],
                      enforcer: Any | None = None) -> list[Mismatch]:
    """Requests on which the exported pycasbin policy and our gate decide differently (empty: equivalent)."""
    enforcer = enforcer or casbin_enforcer(policy, catalog)
    gate = Gate(policy, catalog)
    mismatches = []
    for request in requests:
        ours = _gate_allows(gate, policy.users[request.user], request)
        theirs = bool(enforcer.enforce(request.user, request.tool, request.site))
        if ours != theirs:
            mismatches.append(Mismatch(request, ours, theirs))
    return mismatches


@dataclass(frozen=True)
class LatencyComparison:
    """p50/p99 of one decision in µs for each engine on the same requests, measured interleaved."""

    ours_p50_us: float
    ours_p99_us: float
    casbin_p50_us: float
    casbin_p99_us: float
    requests: int
    rounds: int


def compare_latency(policy: Policy, catalog: Catalog, requests: Sequence[CasbinRequest], *, rounds: int = 3,
                    enforcer: Any | None = None) -> LatencyComparison:
    """Time both engines on ``requests``, alternating rounds so machine noise hits both alike (warm caches)."""
    enforcer = enforcer or casbin_enforcer(policy, catalog)
    gate = Gate(policy, catalog)
    calls = [(policy.users[r.user], r) for r in requests]
    args = [{"site_id": r.site} for r in requests]
    for (user, request), arg in zip(calls, args, strict=True):  # warm both: caches, role links, compiled matcher
        gate.decide(user, request.tool, arg)
        enforcer.enforce(request.user, request.tool, request.site)
    clock = time.perf_counter_ns
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        for (user, request), arg in zip(calls, args, strict=True):
            start = clock()
            gate.decide(user, request.tool, arg)
            ours.append((clock() - start) / 1000.0)
        for _user, request in calls:
            start = clock()
            enforcer.enforce(request.user, request.tool, request.site)
            theirs.append((clock() - start) / 1000.0)
    return LatencyComparison(percentile(ours, 50), percentile(ours, 99), percentile(theirs, 50),
                             percentile(theirs, 99), len(requests), rounds)
