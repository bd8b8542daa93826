"""The plant manifest: what the generator planted, for tests, evals and demos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.demo.errors import ManifestInvalid, ManifestMissing

__all__ = ["MANIFEST_NAME", "read_manifest", "write_manifest"]

MANIFEST_NAME = "plant_manifest.json"


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` as ``plant_manifest.json`` in ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_manifest(home: Path) -> dict[str, Any]:
    """The manifest written next to the plant in ``home``.

    Raises :class:`ManifestMissing` if there is none and :class:`ManifestInvalid` if it is not a JSON object.
    """
    path = Path(home) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestMissing(str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestInvalid(str(path), str(exc)) from None
    if not isinstance(data, dict):
        raise ManifestInvalid(str(path), "top level is not an object")
    return data
