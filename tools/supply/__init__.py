"""Supply-side read tools: inventory, procurement, suppliers and buyer exception triage, with their helpers
(:mod:`tools.supply.common` open-order queries, :mod:`tools.supply.projection` stock projection)."""
