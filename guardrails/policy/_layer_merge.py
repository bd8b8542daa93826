"""Layering: a lower policy layer may only tighten the layer above it.

Every check names the file, the key and what the change would loosen, so a
policy author sees exactly which line to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy._layer_parse import FieldRule, LayerDoc, RoleRule

__all__ = ["EffectiveRole", "merge_fields", "merge_roles"]


@dataclass(frozen=True)
class EffectiveRole:
    """A role after merging layers: what it is granted and denied."""

    name: str
    description: str
    domains: frozenset[str]
    tools: frozenset[str]
    deny_tools: frozenset[str]
    permissions: frozenset[str]
    origins: Mapping[str, str] = field(default_factory=dict)
    """Rule ids of each grant and deny: ``tool:x`` / ``domain:x`` / ``deny:x`` → ``file#key``."""

    def grants(self, tool: str, domain: str) -> bool:
        """True when this role may call ``tool`` (of ``domain``)."""
        return tool not in self.deny_tools and (tool in self.tools or domain in self.domains)

    def rule_for(self, tool: str, domain: str) -> str:
        """The rule id that decides ``tool`` for this role (the deny, the tool grant or the domain grant)."""
        if tool in self.deny_tools:
            return self.origins.get(f"deny:{tool}", f"roles.{self.name}.deny_tools")
        if tool in self.tools:
            return self.origins.get(f"tool:{tool}", f"roles.{self.name}.tools")
        return self.origins.get(f"domain:{domain}", f"roles.{self.name}.domains")


def roles_from_enterprise(doc: LayerDoc) -> dict[str, EffectiveRole]:
    """The enterprise layer's roles, as effective roles."""
    roles = {}
    for name, rule in doc.roles.items():
        key = f"{doc.file}#roles.{name}"
        origins = {f"domain:{d}": f"{key}.domains" for d in rule.domains or ()}
        origins.update({f"tool:{t}": f"{key}.tools" for t in rule.tools or ()})
        origins.update({f"deny:{t}": f"{key}.deny_tools" for t in rule.deny_tools})
        roles[name] = EffectiveRole(
            name=name,
            description=rule.description,
            domains=rule.domains or frozenset(),
            tools=rule.tools or frozenset(),
            deny_tools=rule.deny_tools,
            permissions=rule.permissions or frozenset(),
            origins=origins,
        )
    return roles


def _subset(doc: LayerDoc, key: str, lower: frozenset[str], upper: frozenset[str], what: str) -> None:
    extra = sorted(lower - upper)
    if extra:
        raise PolicyLoosening(
            doc.file, key, f"would grant {what} {extra[0]!r}, which the layer above does not grant"
        )


def _tighten_role(doc: LayerDoc, upper: EffectiveRole, rule: RoleRule) -> EffectiveRole:
    base = f"roles.{rule.name}"
    domains = upper.domains
    if rule.domains is not None:
        _subset(doc, f"{base}.domains", rule.domains, upper.domains, "domain")
        # A domain layer restricts only the tool domains it covers.
        dropped = (upper.domains - rule.domains) & doc.covers if doc.layer == "domain" else (
            upper.domains - rule.domains)
        domains = upper.domains - dropped
    tools = upper.tools
    if rule.tools is not None:
        _subset(doc, f"{base}.tools", rule.tools, upper.tools, "tool")
        tools = rule.tools
    permissions = upper.permissions
    if rule.permissions is not None:
        _subset(doc, f"{base}.permissions", rule.permissions, upper.permissions, "permission")
        permissions = rule.permissions
    origins = dict(upper.origins)
    origins.update({f"deny:{t}": f"{doc.file}#{base}.deny_tools" for t in rule.deny_tools - upper.deny_tools})
    return replace(upper, domains=domains, tools=tools, permissions=permissions,
                   deny_tools=upper.deny_tools | rule.deny_tools, origins=origins)


def merge_roles(upper: Mapping[str, EffectiveRole], doc: LayerDoc) -> dict[str, EffectiveRole]:
    """Apply ``doc``'s role rules on top of ``upper`` (tightening only)."""
    merged = dict(upper)
    for name, rule in doc.roles.items():
        if name not in upper:
            raise PolicyLoosening(doc.file, f"roles.{name}", "would add a role the enterprise layer does not define")
        if rule.description:
            raise PolicyError(doc.file, f"roles.{name}.description", "roles are described in enterprise.yaml only")
        merged[name] = _tighten_role(doc, upper[name], rule)
    return merged


def merge_fields(upper: Mapping[str, FieldRule], doc: LayerDoc, roles: frozenset[str]) -> dict[str, FieldRule]:
    """Apply ``doc``'s sensitive-field rules on top of ``upper`` (tightening only)."""
    merged = dict(upper)
    for name, rule in doc.fields.items():
        key = f"sensitive_fields.{name}"
        for role in sorted((rule.visible_to | rule.aggregate_only) - roles):
            raise PolicyError(doc.file, key, f"names unknown role {role!r}")
        above = upper.get(name)
        if above is not None:
            extra = sorted(rule.visible_to - above.visible_to)
            if extra:
                raise PolicyLoosening(doc.file, f"{key}.visible_to",
                                      f"would make {name} visible to {extra[0]!r}, which the layer above hides")
            extra = sorted(rule.aggregate_only - above.visible_to - above.aggregate_only)
            if extra:
                raise PolicyLoosening(doc.file, f"{key}.aggregate_only",
                                      f"would let {extra[0]!r} aggregate {name}, which the layer above hides")
            if rule.min_group is not None and rule.min_group < above.group_floor:
                raise PolicyLoosening(doc.file, f"{key}.min_group",
                                      f"would lower the minimum group for aggregates of {name} from "
                                      f"{above.group_floor} to {rule.min_group}")
        # A layer that does not set min_group keeps the one above (or the default at the top).
        floor = rule.min_group if rule.min_group is not None else (
            above.group_floor if above is not None else rule.group_floor)
        merged[name] = replace(rule, min_group=floor)
    return merged
