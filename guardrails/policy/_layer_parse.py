"""Parsing one policy layer file into typed pieces, with errors that name the file and key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guardrails.errors import PolicyError
from guardrails.identity import ALL_SITES, LANGUAGES, User
from tools.scope import DEFAULT_MIN_GROUP

__all__ = ["FieldRule", "LayerDoc", "RoleRule", "parse_layer"]


@dataclass(frozen=True)
class RoleRule:
    """What one layer says about one role. ``None`` means the layer does not set that key."""

    name: str
    description: str = ""
    domains: frozenset[str] | None = None
    tools: frozenset[str] | None = None
    deny_tools: frozenset[str] = frozenset()
    permissions: frozenset[str] | None = None


@dataclass(frozen=True)
class FieldRule:
    """Who may see a sensitive ``table.column`` field, row by row or in aggregates only."""

    field: str
    visible_to: frozenset[str]
    aggregate_only: frozenset[str] = frozenset()
    min_group: int | None = None
    """The fewest rows an aggregate over the field may cover for an ``aggregate_only`` role (and never over rows
    that all carry one value). ``None`` in a parsed layer that does not set it: the layer above's value, or
    :data:`tools.scope.DEFAULT_MIN_GROUP` at the top; merged rules always carry a number."""

    @property
    def group_floor(self) -> int:
        """``min_group`` as it applies (the default when no layer set it)."""
        return self.min_group if self.min_group is not None else DEFAULT_MIN_GROUP


@dataclass(frozen=True)
class LayerDoc:
    """One parsed policy file."""

    file: str
    layer: str
    """``enterprise``, ``domain`` or ``plant``."""
    name: str
    """The domain name, the site id, or ``enterprise``."""
    covers: frozenset[str] = frozenset()
    roles: Mapping[str, RoleRule] = field(default_factory=dict)
    users: Mapping[str, User] = field(default_factory=dict)
    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    sections: Mapping[str, Any] = field(default_factory=dict)
    """Sections owned by other parts of the guardrail layer (screening, actions, models), raw."""


_LAYER_KEYS = {
    "enterprise": {"version", "roles", "users", "sensitive_fields"},
    "domain": {"layer", "domain", "covers", "roles", "sensitive_fields"},
    "plant": {"layer", "site", "roles", "sensitive_fields"},
}
# Sections parsed by their own modules; allowed in every layer.
EXTRA_SECTIONS = frozenset({"screening", "actions", "approvals", "models", "knowledge", "audit", "monitoring"})


def _str_set(file: str, key: str, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PolicyError(file, key, f"must be a list of names, got {type(value).__name__}")
    bad = [v for v in value if not isinstance(v, str) or not v]
    if bad:
        raise PolicyError(file, key, f"must contain only non-empty names, got {bad[0]!r}")
    return frozenset(value)


def _mapping(file: str, key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PolicyError(file, key, f"must be a mapping, got {type(value).__name__}")
    return value


def _roles(file: str, raw: Mapping[str, Any]) -> dict[str, RoleRule]:
    roles: dict[str, RoleRule] = {}
    allowed = {"description", "domains", "tools", "deny_tools", "permissions"}
    for name, body in raw.items():
        body = _mapping(file, f"roles.{name}", body)
        unknown = set(body) - allowed
        if unknown:
            raise PolicyError(file, f"roles.{name}.{sorted(unknown)[0]}", f"unknown key (allowed: {sorted(allowed)})")

        def opt(key: str, body: Mapping[str, Any] = body, name: str = name) -> frozenset[str] | None:
            return _str_set(file, f"roles.{name}.{key}", body[key]) if key in body else None

        roles[name] = RoleRule(
            name=name,
            description=str(body.get("description", "")),
            domains=opt("domains"),
            tools=opt("tools"),
            deny_tools=_str_set(file, f"roles.{name}.deny_tools", body.get("deny_tools")),
            permissions=opt("permissions"),
        )
    return roles


_USER_KEYS = frozenset({"name", "roles", "sites", "language"})


def _language(file: str, user_id: str, body: Mapping[str, Any]) -> str:
    """The user's answer language: ``en`` when not set, else one of :data:`LANGUAGES`."""
    value = body.get("language", LANGUAGES[0])
    if value not in LANGUAGES:
        raise PolicyError(file, f"users.{user_id}.language", f"must be one of {list(LANGUAGES)}, got {value!r}")
    return str(value)


def _users(file: str, raw: Mapping[str, Any]) -> dict[str, User]:
    users: dict[str, User] = {}
    for user_id, body in raw.items():
        body = _mapping(file, f"users.{user_id}", body)
        unknown = set(body) - _USER_KEYS
        if unknown:
            raise PolicyError(file, f"users.{user_id}.{sorted(unknown)[0]}",
                              f"unknown key (allowed: {sorted(_USER_KEYS)})")
        roles = _str_set(file, f"users.{user_id}.roles", body.get("roles"))
        if not roles:
            raise PolicyError(file, f"users.{user_id}.roles", "a user needs at least one role")
        sites = _str_set(file, f"users.{user_id}.sites", body.get("sites", []))
        users[user_id] = User(
            user_id=user_id,
            name=str(body.get("name", user_id)),
            roles=roles,
            sites=None if ALL_SITES in sites else sites,
            language=_language(file, user_id, body),
        )
    return users


def _min_group(file: str, key: str, value: Any) -> int | None:
    """A field's ``min_group``: a whole number of at least 2 (an aggregate over one row is that row's value)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise PolicyError(file, key, f"must be a whole number of at least 2 (an aggregate over one row is that "
                                     f"row's value), got {value!r}")
    return value


def _fields(file: str, raw: Mapping[str, Any]) -> dict[str, FieldRule]:
    fields: dict[str, FieldRule] = {}
    for name, body in raw.items():
        if name.count(".") != 1:
            raise PolicyError(file, f"sensitive_fields.{name}", "must be named table.column")
        body = _mapping(file, f"sensitive_fields.{name}", body)
        unknown = set(body) - {"visible_to", "aggregate_only", "min_group"}
        if unknown:
            raise PolicyError(file, f"sensitive_fields.{name}.{sorted(unknown)[0]}", "unknown key")
        fields[name] = FieldRule(
            field=name,
            visible_to=_str_set(file, f"sensitive_fields.{name}.visible_to", body.get("visible_to")),
            aggregate_only=_str_set(file, f"sensitive_fields.{name}.aggregate_only", body.get("aggregate_only")),
            min_group=_min_group(file, f"sensitive_fields.{name}.min_group", body.get("min_group")),
        )
    return fields


def parse_layer(file: str, raw: Any, expected_layer: str) -> LayerDoc:
    """Parse the YAML content ``raw`` of ``file`` as a layer of kind ``expected_layer``."""
    doc = _mapping(file, "(document)", raw)
    layer = str(doc.get("layer", "enterprise"))
    if layer != expected_layer:
        raise PolicyError(file, "layer", f"expected {expected_layer!r} here, got {layer!r}")
    allowed = _LAYER_KEYS[layer] | EXTRA_SECTIONS
    unknown = set(doc) - allowed
    if unknown:
        key = sorted(unknown)[0]
        if key == "users":
            # Nor change them: a user's record (roles, sites and answer language) is one place, enterprise.yaml.
            raise PolicyError(file, key, "users are defined only in enterprise.yaml; a lower layer cannot add "
                                         "or change them (not even their language)")
        raise PolicyError(file, key, f"unknown key for a {layer} layer (allowed: {sorted(allowed)})")
    if layer == "enterprise":
        name = "enterprise"
    elif layer == "domain":
        name = str(doc.get("domain") or "")
        if not name:
            raise PolicyError(file, "domain", "a domain layer must name its domain")
    else:
        name = str(doc.get("site") or "")
        if not name:
            raise PolicyError(file, "site", "a plant layer must name its site")
    return LayerDoc(
        file=file,
        layer=layer,
        name=name,
        covers=_str_set(file, "covers", doc.get("covers")),
        roles=_roles(file, _mapping(file, "roles", doc.get("roles"))),
        users=_users(file, _mapping(file, "users", doc.get("users"))),
        fields=_fields(file, _mapping(file, "sensitive_fields", doc.get("sensitive_fields"))),
        sections={k: doc[k] for k in EXTRA_SECTIONS if k in doc},
    )
