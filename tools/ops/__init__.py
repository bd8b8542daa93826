"""Operations read tools: production, quality, lot status, maintenance and the executive summary, with their helpers
(:mod:`tools.ops.common` shared queries, line metrics, lot genealogy, ERP/MES reconciliation)."""
