"""The effective policy: enterprise → domain → plant layers, loaded from YAML data.

The engine here knows nothing about particular roles or tools; everything it
decides comes from the files under the policy folder (``JIDOKA_POLICY_DIR``,
default: the ``policy/`` folder shipped beside this module).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from guardrails.errors import PolicyError, UnknownUser
from guardrails.identity import User
from guardrails.policy._layer_merge import EffectiveRole, merge_fields, merge_roles, roles_from_enterprise
from guardrails.policy._layer_parse import FieldRule, LayerDoc, parse_layer
from guardrails.policy.audit_rules import AuditRules
from guardrails.screening.rules import ScreeningRules
from tools.actions.catalog import ACTIONS
from tools.catalog import Catalog
from tools.plant.schema import SENSITIVE_COLUMNS

__all__ = [
    "EffectiveRole",
    "FieldRule",
    "LayerDoc",
    "Policy",
    "catalog_policy",
    "default_policy_dir",
    "load_default_rules",
    "load_policy",
]


@dataclass(frozen=True)
class Policy:
    """The merged, validated policy. Immutable: a new version is a new object with a new hash."""

    roles: Mapping[str, EffectiveRole]
    """Roles after the enterprise and domain layers."""
    users: Mapping[str, User]
    fields: Mapping[str, FieldRule]
    """Sensitive fields after the enterprise and domain layers."""
    plant_roles: Mapping[str, Mapping[str, EffectiveRole]]
    """Per site: roles after that plant's layer."""
    plant_fields: Mapping[str, Mapping[str, FieldRule]]
    """Per site: sensitive fields after that plant's layer."""
    layers: Sequence[LayerDoc]
    hash: str
    """SHA-256 over every policy file (path and bytes); recorded with every audit event."""
    source: str
    screening: ScreeningRules = field(default_factory=lambda: ScreeningRules(()))
    """Screening rules: the enterprise set plus what lower layers add."""
    sites: frozenset[str] = field(default_factory=frozenset)
    """Sites that have a plant layer."""
    audit: AuditRules = field(default_factory=AuditRules)
    """What readers of the audit trail see of sensitive values in payloads (the ``audit:`` section)."""

    def sensitive_fields(self) -> frozenset[str]:
        """Every sensitive field the policy names, at any site."""
        return frozenset(self.fields).union(*(set(f) for f in self.plant_fields.values()))

    def user(self, user_id: str) -> User:
        """The user called ``user_id``; :class:`UnknownUser` if the policy does not know them."""
        try:
            return self.users[user_id]
        except KeyError:
            raise UnknownUser(user_id) from None

    def roles_at(self, site: str) -> Mapping[str, EffectiveRole]:
        """Roles as they apply to data of ``site``."""
        return self.plant_roles.get(site, self.roles)

    def fields_at(self, site: str) -> Mapping[str, FieldRule]:
        """Sensitive-field rules as they apply to data of ``site``."""
        return self.plant_fields.get(site, self.fields)

    def user_sites(self, user: User) -> frozenset[str]:
        """Concrete sites of ``user`` (every known site for ``*`` users)."""
        return self.sites if user.sites is None else user.sites

    def has_permission(self, user: User, permission: str) -> bool:
        """True when one of the user's roles carries a non-tool permission such as ``audit.read``."""
        return any(permission in self.roles[r].permissions for r in user.roles if r in self.roles)

    def sections(self, name: str) -> list[tuple[LayerDoc, Any]]:
        """Raw content of section ``name`` (e.g. ``screening``) in every layer, top layer first."""
        return [(doc, doc.sections[name]) for doc in self.layers if name in doc.sections]

    def describe(self, user: User | None = None) -> dict[str, Any]:
        """A JSON-friendly view of the effective policy, optionally for one user."""
        def role_view(role: EffectiveRole) -> dict[str, Any]:
            return {"domains": sorted(role.domains), "tools": sorted(role.tools),
                    "deny_tools": sorted(role.deny_tools), "permissions": sorted(role.permissions)}

        def field_view(rules: Mapping[str, FieldRule]) -> dict[str, Any]:
            return {n: {"visible_to": sorted(r.visible_to), "aggregate_only": sorted(r.aggregate_only),
                        "min_group": r.group_floor}
                    for n, r in sorted(rules.items())}

        view: dict[str, Any] = {"hash": self.hash, "source": self.source,
                                "layers": [d.file for d in self.layers]}
        if user is None:
            view["roles"] = {n: role_view(r) for n, r in sorted(self.roles.items())}
            view["users"] = {u.user_id: {"roles": sorted(u.roles), "sites": u.site_list(), "language": u.language}
                             for u in self.users.values()}
            view["sensitive_fields"] = field_view(self.fields)
            view["plants"] = {s: {"roles": {n: role_view(r) for n, r in sorted(self.plant_roles[s].items())},
                                  "sensitive_fields": field_view(self.plant_fields[s])}
                              for s in sorted(self.sites)}
            return view
        view["user"] = {"user_id": user.user_id, "name": user.name, "roles": sorted(user.roles),
                        "sites": user.site_list(), "language": user.language}
        view["per_site"] = {
            site: {"roles": {r: role_view(self.roles_at(site)[r]) for r in sorted(user.roles)},
                   "sensitive_fields": field_view(self.fields_at(site))}
            for site in sorted(self.user_sites(user))
        }
        view["permissions"] = sorted({p for r in user.roles for p in self.roles[r].permissions})
        return view


def default_policy_dir() -> Path:
    """The policy folder shipped with jidoka."""
    return Path(str(resources.files("guardrails.policy") / "layers"))


def _read(path: Path, root: Path) -> tuple[str, Any, bytes]:
    rel = path.relative_to(root).as_posix()
    data = path.read_bytes()
    try:
        return rel, yaml.safe_load(data), data
    except yaml.YAMLError as exc:
        raise PolicyError(rel, "(yaml)", f"not valid YAML: {exc}") from None


def _check_tools(doc: LayerDoc, known_tools: Mapping[str, str]) -> None:
    for name, rule in doc.roles.items():
        for key, names in (("tools", rule.tools or ()), ("deny_tools", rule.deny_tools)):
            for tool in sorted(names):
                if tool not in known_tools:
                    raise PolicyError(doc.file, f"roles.{name}.{key}", f"unknown tool {tool!r}")
                if doc.layer == "domain" and known_tools[tool] not in doc.covers:
                    raise PolicyError(doc.file, f"roles.{name}.{key}",
                                      f"tool {tool!r} is in domain {known_tools[tool]!r}, which this layer "
                                      f"does not cover ({sorted(doc.covers)})")


def _check_fields(doc: LayerDoc, maskable: frozenset[str]) -> None:
    for name in sorted(doc.fields):
        if name not in maskable:
            raise PolicyError(doc.file, f"sensitive_fields.{name}",
                              "no tool can mask this field, so tools would return it in clear; "
                              f"maskable fields: {sorted(maskable)}")


def load_policy(directory: Path | None = None, *, known_tools: Mapping[str, str] | None = None,
                maskable_fields: frozenset[str] | None = None) -> Policy:
    """Load and merge the policy under ``directory`` (the shipped default when ``None``).

    ``known_tools`` maps tool names to domains; when given, every tool the
    policy names must exist (catches typos that would silently grant nothing).
    ``maskable_fields`` are the fields the tools know how to withhold; when
    given, a sensitive field outside them is an error, not a silent leak.
    """
    root = (directory or default_policy_dir()).resolve()
    enterprise_path = root / "enterprise.yaml"
    if not enterprise_path.is_file():
        raise PolicyError(str(enterprise_path), "(file)", "enterprise.yaml not found in the policy folder")
    digest = hashlib.sha256()

    def load(path: Path, layer: str) -> LayerDoc:
        rel, raw, data = _read(path, root)
        digest.update(rel.encode() + b"\0" + data + b"\0")
        return parse_layer(rel, raw, layer)

    enterprise = load(enterprise_path, "enterprise")
    domain_docs = [load(p, "domain") for p in sorted((root / "domains").glob("*.yaml"))]
    plant_docs = [load(p, "plant") for p in sorted((root / "plants").glob("*.yaml"))]

    role_names = frozenset(enterprise.roles)
    roles = roles_from_enterprise(enterprise)
    fields = merge_fields({}, enterprise, role_names)
    for doc in domain_docs:
        roles = merge_roles(roles, doc)
        fields = merge_fields(fields, doc, role_names)
    plant_roles: dict[str, Mapping[str, EffectiveRole]] = {}
    plant_fields: dict[str, Mapping[str, FieldRule]] = {}
    for doc in plant_docs:
        if Path(doc.file).stem != doc.name:
            raise PolicyError(doc.file, "site", f"file name must match the site ({doc.name}.yaml)")
        plant_roles[doc.name] = merge_roles(roles, doc)
        plant_fields[doc.name] = merge_fields(fields, doc, role_names)
    sites = frozenset(plant_roles)
    for user in enterprise.users.values():
        for role in sorted(user.roles - role_names):
            raise PolicyError(enterprise.file, f"users.{user.user_id}.roles", f"unknown role {role!r}")
        if sites and user.sites is not None:
            for site in sorted(user.sites - sites):
                raise PolicyError(enterprise.file, f"users.{user.user_id}.sites",
                                  f"unknown site {site!r} (plant layers exist for {sorted(sites)})")
    layers = [enterprise, *domain_docs, *plant_docs]
    for doc in layers:
        if known_tools is not None:
            _check_tools(doc, known_tools)
        if maskable_fields is not None:
            _check_fields(doc, maskable_fields)
    screening_sections = [(doc.file, raw) for doc in layers if (raw := doc.sections.get("screening")) is not None]
    screening = ScreeningRules.from_layers(screening_sections) if screening_sections else ScreeningRules(())
    sensitive = frozenset(fields).union(*(set(f) for f in plant_fields.values()))
    audit = AuditRules.from_layers(layers, role_names, sensitive)
    return Policy(
        audit=audit,
        screening=screening,
        roles=roles,
        users=dict(enterprise.users),
        fields=fields,
        plant_roles=plant_roles,
        plant_fields=plant_fields,
        layers=layers,
        hash=digest.hexdigest(),
        source=str(root),
        sites=sites,
    )


def catalog_policy(directory: Path | None, catalog: Catalog) -> Policy:
    """Load the policy checked against ``catalog``: tools it names exist, fields it hides are maskable.

    The governed actions count as tools too: a role may be granted an action by name."""
    maskable = SENSITIVE_COLUMNS | {f for s in catalog for f in s.sensitive_fields}
    known = {s.name: s.domain for s in catalog} | {a.name: a.domain for a in ACTIONS}
    return load_policy(directory, known_tools=known, maskable_fields=maskable)


def load_default_rules() -> ScreeningRules:
    """The screening rules of the policy shipped with jidoka (enterprise layer plus any lower-layer additions).

    Loads and compiles on every call: load once and keep the result (the :class:`Policy` holds its own).
    A broken policy raises :class:`~guardrails.errors.PolicyError`.
    """
    return load_policy().screening
