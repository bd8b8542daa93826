"""The plant database: the canonical ERP/MES schema (:mod:`tools.plant.schema`) and engines on it
(:mod:`tools.plant.db`)."""
