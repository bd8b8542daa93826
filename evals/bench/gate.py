"""Gate decision latency with the default policy and with a generated 1,000-rule policy."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import yaml

from evals.bench.stats import percentile
from guardrails.gate import Gate
from guardrails.identity import User
from guardrails.policy.loader import Policy, default_policy_dir, load_policy
from tools.catalog import Catalog

__all__ = ["gate_latency", "large_policy", "write_large_policy"]


class _StaticResolver:
    """Record sites from a fixed map: the benchmark measures the gate, not the database."""

    def __init__(self) -> None:
        self.sites = {("po", f"PO-{24000 + i}"): ("P100" if i % 2 else "P200") for i in range(400)}

    def site_of(self, kind: str, record_id: str) -> str | None:
        return self.sites.get((kind, record_id))


def _percentiles(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50), percentile(samples, 99)


def _calls(policy: Policy, catalog: Catalog, n: int, seed: int) -> list[tuple[User, str, dict[str, Any]]]:
    rng = random.Random(seed)
    users = list(policy.users.values())
    tools = catalog.names
    calls = []
    for _ in range(n):
        args: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.3:
            args = {"po_id": f"PO-{24000 + rng.randrange(400)}"}
        elif roll < 0.5:
            args = {"site_id": rng.choice(["P100", "P200"]), "limit": 20}
        calls.append((rng.choice(users), rng.choice(tools), args))
    return calls


def gate_latency(policy: Policy, catalog: Catalog, *, n: int = 20000, cache: bool = True,
                 seed: int = 7) -> tuple[float, float]:
    """p50 and p99 of one decision in microseconds over ``n`` mixed calls (warm cache unless ``cache=False``)."""
    gate = Gate(policy, catalog, _StaticResolver(), cache=cache)
    calls = _calls(policy, catalog, n, seed)
    for user, tool, args in calls:  # warm-up pass: steady state, every (user, tool) pair seen once
        gate.decide(user, tool, args)
    samples = []
    clock = time.perf_counter_ns
    for user, tool, args in calls:
        start = clock()
        gate.decide(user, tool, args)
        samples.append((clock() - start) / 1000.0)
    return _percentiles(samples)


def write_large_policy(target: Path, catalog: Catalog, *, rules: int = 1000) -> Path:
    """A copy of the default policy grown to about ``rules`` grant and deny rules (extra roles and users)."""
    source = default_policy_dir()
    enterprise = yaml.safe_load((source / "enterprise.yaml").read_text())
    tools = catalog.names
    domains = sorted({s.domain for s in catalog})
    added = 0
    index = 0
    while added < rules:
        role = f"role_{index:04d}"
        enterprise["roles"][role] = {
            "description": "generated",
            "domains": [domains[index % len(domains)]],
            "tools": [tools[index % len(tools)], tools[(index + 3) % len(tools)]],
            "deny_tools": [tools[(index + 5) % len(tools)]],
        }
        enterprise["users"][f"user.{index:04d}"] = {"name": role, "roles": [role],
                                                    "sites": [["P100"], ["P200"], ["P100", "P200"]][index % 3]}
        added += 4
        index += 1
    target.mkdir(parents=True, exist_ok=True)
    (target / "enterprise.yaml").write_text(yaml.safe_dump(enterprise, sort_keys=False))
    for sub in ("domains", "plants"):
        (target / sub).mkdir(exist_ok=True)
        for path in (source / sub).glob("*.yaml"):
            (target / sub / path.name).write_text(path.read_text())
    return target


def large_policy(target: Path, catalog: Catalog, rules: int = 1000) -> Policy:
    """Load the generated large policy."""
    return load_policy(write_large_policy(target, catalog, rules=rules))
