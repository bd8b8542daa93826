"""The gate: one pure function decides every tool call — allow, deny or needs approval.

The decision carries the rule id that decided it and the data scope the tool
must apply in SQL. Deny by default: a call is allowed only when a policy rule
grants it. Per (user, tool) work is computed once and cached (the policy is
immutable); per call, only the named sites are checked (records at other sites are
left to the scoped query, which cannot see them: they read as not found).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from guardrails.identity import User
from guardrails.locator import RECORD_FIELDS, SiteResolver
from guardrails.policy.loader import Policy
from tools.catalog import Catalog
from tools.scope import DEFAULT_MIN_GROUP, DataScope

__all__ = ["Decision", "Effect", "Gate", "data_scope", "field_scope"]

_NO_SCOPE = DataScope(sites=frozenset())


class Effect(StrEnum):
    """What the gate decided."""

    ALLOW = "allow"
    DENY = "deny"
    NEEDS_APPROVAL = "needs_approval"


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's typed answer for one tool call."""

    effect: Effect
    rule_id: str
    """The policy rule that decided (``file#key``) or a built-in rule (``gate.default_deny``...)."""
    reason: str
    """A sentence the model can relay to the user."""
    scope: DataScope
    """The data scope the tool must apply; empty for denials."""
    tool: str
    user_id: str

    @property
    def allowed(self) -> bool:
        """True when the tool may run now."""
        return self.effect is Effect.ALLOW


def field_scope(policy: Policy, user: User, sites: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Masked and aggregate-only fields: a field is visible only if visible at every site in scope."""
    masked: set[str] = set()
    aggregate_only: set[str] = set()
    names = set(policy.fields)
    for site in sites:
        names |= set(policy.fields_at(site))
    for name in names:
        visible = aggregable = True
        for site in sites or {""}:
            rule = policy.fields_at(site).get(name) if site else policy.fields.get(name)
            if rule is None:
                continue
            visible = visible and bool(user.roles & rule.visible_to)
            aggregable = aggregable and bool(user.roles & (rule.visible_to | rule.aggregate_only))
        if not aggregable:
            masked.add(name)
        elif not visible:
            aggregate_only.add(name)
    return frozenset(masked), frozenset(aggregate_only)


def data_scope(policy: Policy, user: User, granted: frozenset[str]) -> DataScope:
    """The data scope of ``user`` over the ``granted`` sites: the site filter, masked and aggregate-only fields,
    and for each aggregate-only field the strictest ``min_group`` of those sites (an aggregate may mix them)."""
    masked, aggregate_only = field_scope(policy, user, granted)
    floors: dict[str, int] = {}
    for name in aggregate_only:
        rules = [(policy.fields_at(site) if site else policy.fields).get(name) for site in granted or {""}]
        floors[name] = max((rule.group_floor for rule in rules if rule is not None), default=DEFAULT_MIN_GROUP)
    all_sites = user.sites is None and granted == policy.user_sites(user)
    return DataScope(sites=None if all_sites else granted, masked_fields=masked, aggregate_only_fields=aggregate_only,
                     min_group=floors)


class Gate:
    """Decides tool calls against an immutable policy."""

    def __init__(self, policy: Policy, catalog: Catalog, resolver: SiteResolver | None = None, *,
                 cache: bool = True) -> None:
        """``cache=False`` recomputes the per (user, tool) part on every call (for benchmarks)."""
        self.policy = policy
        self.catalog = catalog
        self.resolver = resolver
        self._cache = cache
        self._base: dict[tuple[str, str], Decision] = {}

    def decide(self, user: User, tool: str, args: Mapping[str, Any] | None = None) -> Decision:
        """Decide one call of ``tool`` by ``user`` with ``args``."""
        base = self._base.get((user.user_id, tool))
        if base is None:
            base = self._decide_base(user, tool)
            if self._cache:
                self._base[(user.user_id, tool)] = base
        if base.effect is Effect.DENY or not args:
            return base
        sites = base.scope.sites
        if sites is None:
            return base
        # A site the caller names outside their scope is refused (sites are no secret). A *record* at another
        # site is not refused here: the tool's query is scoped to the caller's sites, so that record reads as
        # not found — exactly like an id that does not exist. Refusing it by its site would tell the caller
        # where the record is (an existence and site oracle).
        for key, value in args.items():
            if RECORD_FIELDS.get(key) != "site" or value is None:
                continue
            for site in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(site, str) and site not in sites:
                    return Decision(
                        Effect.DENY, "gate.scope.site",
                        f"You have no access to site {site} through {tool}; your access covers "
                        f"{', '.join(sorted(sites)) or 'no sites'}.",
                        _NO_SCOPE, tool, user.user_id,
                    )
        return base

    def _decide_base(self, user: User, tool: str) -> Decision:
        if tool not in self.catalog:
            return Decision(Effect.DENY, "gate.unknown_tool", f"There is no tool called {tool!r}.",
                            _NO_SCOPE, tool, user.user_id)
        spec = self.catalog.get(tool)
        roles = sorted(user.roles)
        policy = self.policy
        enterprise_rule = next(
            (policy.roles[r].rule_for(tool, spec.domain) for r in roles
             if r in policy.roles and policy.roles[r].grants(tool, spec.domain)), None)
        if enterprise_rule is None:
            denies = [policy.roles[r].rule_for(tool, spec.domain) for r in roles
                      if r in policy.roles and tool in policy.roles[r].deny_tools]
            rule = denies[0] if denies else "gate.default_deny"
            return Decision(Effect.DENY, rule,
                            f"Your role ({', '.join(roles)}) does not grant {tool} ({spec.domain} data).",
                            _NO_SCOPE, tool, user.user_id)
        user_sites = policy.user_sites(user)
        granted = frozenset(
            site for site in user_sites
            if any(policy.roles_at(site)[r].grants(tool, spec.domain) for r in roles if r in policy.roles_at(site)))
        if not granted:
            if not user_sites:
                return Decision(Effect.DENY, "gate.no_site_access",
                                f"You have no site access, so {tool} has no data you may see.",
                                _NO_SCOPE, tool, user.user_id)
            site = sorted(user_sites)[0]
            rule = next((policy.roles_at(site)[r].rule_for(tool, spec.domain) for r in roles
                         if r in policy.roles_at(site)), "gate.default_deny")
            return Decision(Effect.DENY, rule, f"The plant policy of {', '.join(sorted(user_sites))} "
                            f"does not grant {tool} to your role.", _NO_SCOPE, tool, user.user_id)
        scope = data_scope(policy, user, granted)
        where = "all sites" if scope.sites is None else ", ".join(sorted(granted))
        return Decision(Effect.ALLOW, enterprise_rule, f"{tool} allowed for {where}.", scope, tool, user.user_id)
