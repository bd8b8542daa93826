"""Supply-side read tools: inventory, transfers, procurement, suppliers, buyer exception triage, sales orders and
demand vs orders, with their helpers (:mod:`tools.supply.common` open-order queries, :mod:`tools.supply.projection`
stock projection)."""
