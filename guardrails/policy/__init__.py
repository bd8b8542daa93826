"""The layered policy: enterprise → domain → plant YAML (lower layers only tighten), loaded into one :class:`Policy`.

- :mod:`guardrails.policy.loader` — reads a policy folder (``layers/`` is the shipped one) into a :class:`Policy`;
- :mod:`guardrails.policy._layer_parse`, :mod:`guardrails.policy._layer_merge` — roles, users, fields per layer;
- :mod:`guardrails.policy._actions_parse`, :mod:`guardrails.policy._actions_merge` — the ``actions:`` section;
- :mod:`guardrails.policy.triggers` — action triggers (when the copilot should propose an action);
- :mod:`guardrails.policy.models` — the ``models:`` section (which chat models may run, and propose what);
- :mod:`guardrails.policy.publishing` — the ``knowledge:`` section (who publishes and who owns documents).
"""

from guardrails.policy.loader import Policy, catalog_policy, default_policy_dir, load_policy
from guardrails.policy.models import ApprovedModel, ModelPolicy, ModelSpec

__all__ = ["ApprovedModel", "ModelPolicy", "ModelSpec", "Policy", "catalog_policy", "default_policy_dir",
           "load_policy"]
