"""Errors raised by the demo-plant generator."""

from __future__ import annotations

from tools.errors import ToolError

__all__ = ["ManifestInvalid", "ManifestMissing", "PlantAlreadyExists", "PlantGenerationError", "PlantRecordIncomplete"]


class PlantAlreadyExists(ToolError):
    """The target database already holds plant data; rebuild only with ``force=True``."""

    def __init__(self, url: str, tables: list[str]) -> None:
        self.url = url
        self.tables = tables
        super().__init__(
            f"plant data already exists at {url} (tables with rows: {', '.join(tables)}); "
            "rebuild with force to replace it"
        )


class PlantGenerationError(ToolError):
    """The generated plant broke one of its own consistency rules (a generator bug for this seed)."""

    def __init__(self, seed: int, problems: list[str]) -> None:
        self.seed = seed
        self.problems = problems
        super().__init__(f"demo plant for seed {seed} is inconsistent: " + "; ".join(problems[:10]))


class PlantRecordIncomplete(ToolError):
    """A generated record was read before the generator completed it (a generator bug)."""

    def __init__(self, record: str, missing: str) -> None:
        self.record = record
        self.missing = missing
        super().__init__(f"demo plant: {record} was read before it had {missing}")


class ManifestMissing(ToolError):
    """No ``plant_manifest.json`` in the given home: the plant was not built there."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no plant manifest at {path}: run `jidoka init` first")


class ManifestInvalid(ToolError):
    """``plant_manifest.json`` exists but is not a JSON object."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"plant manifest at {path} is unreadable ({reason}): rebuild the plant")
