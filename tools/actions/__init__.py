"""Governed actions: tools that change the plant, once per approved request, and can be undone.

The catalog is :mod:`tools.actions.catalog` (``ACTIONS``, ``action_catalog()``); the types are in
:mod:`tools.actions.spec`. :func:`ensure_action_tables` adds the action tables to a plant built
before they existed.
"""

from tools.actions._ledger import ensure_action_tables

__all__ = ["ensure_action_tables"]
