"""``POST /v1/admin/policy/whatif``: replay the audit trail under a draft policy, for roles with ``audit.read``.

The draft comes in the body as layer files — ``{"layers": {"plants/P200.yaml": "<yaml text>", ...}}`` — never as a
path on the server's disk. By default they replace or add to the live policy's files (``"remove"`` drops some;
``"base": "none"`` starts from no files), are written to a private temp folder and loaded by the same loader and
start-up checks as the live policy (:func:`guardrails.whatif.load_draft`); an invalid draft is a 422 naming the
file and key. The body may be up to :data:`MAX_DRAFT_BYTES` (a whole policy), more than other routes take.

The run reads the whole trail and writes one ``policy_whatif`` event (who, the draft's hash, the counts) in a trace
of its own (``X-Jidoka-Trace``). Callers without ``audit.read`` get the audited 403 of every admin endpoint.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from guardrails.errors import PolicyError
from guardrails.whatif import PolicyReplay, layer_files, load_draft, materialise_draft, whatif_event
from guardrails.whatif.draft import MAX_DRAFT_FILES
from server.api.deps import Caller
from server.api.errors import TRACE_HEADER, Unprocessable
from server.api.refusals import require_permission
from tools.actions.catalog import action_catalog

__all__ = ["MAX_DRAFT_BYTES", "WHATIF_PATH", "WhatIfRequest", "router"]

WHATIF_PATH = "/v1/admin/policy/whatif"
MAX_DRAFT_BYTES = 1024 * 1024
"""The largest what-if body (the shipped policy's files are about 62 kB, and JSON escapes its patterns)."""

router = APIRouter(tags=["admin"])
Admin = Annotated[Caller, Depends(require_permission("audit.read"))]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"description": "Not authenticated."},
                                            403: {"description": "No audit.read permission (audited)."},
                                            413: {"description": "Body over 1 MiB."},
                                            422: {"description": "The draft does not load (file and key named)."}}


class WhatIfRequest(BaseModel):
    """A draft policy as layer files, and how far back to replay."""

    model_config = ConfigDict(extra="forbid")

    layers: dict[str, str] = Field(default_factory=dict, max_length=MAX_DRAFT_FILES,
                                   description="Layer file (enterprise.yaml, domains/NAME.yaml, plants/SITE.yaml) → "
                                               "its YAML text.")
    remove: list[str] = Field(default_factory=list, max_length=MAX_DRAFT_FILES,
                              description="Layer files of the live policy to leave out of the draft.")
    base: Literal["live", "none"] = Field("live", description="Start from the live policy's files, or from none.")
    since: datetime | None = Field(None, description="Only decisions audited at or after this time (UTC if naive).")


@router.post(WHATIF_PATH, summary="Replay the audit under a draft policy", responses=_ERRORS)
def policy_whatif(body: WhatIfRequest, who: Admin, response: Response) -> dict[str, Any]:
    """Every audited tool call and action request decided again under the draft: the decisions and approval routes
    that would change (listed) and those that would not (counted). Nothing is executed; the run is audited."""
    services = who.services
    services.limiter.check(who.user.user_id)  # a replay reads the whole trail: counted like a turn
    runtime = services.runtime
    with tempfile.TemporaryDirectory(prefix="jidoka-draft-") as folder:
        try:
            base = layer_files(services.settings.policy_dir) if body.base == "live" else {}
            draft = load_draft(materialise_draft(Path(folder), body.layers, base=base, remove=body.remove),
                               runtime.catalog)
        except PolicyError as exc:
            where = exc.file if not exc.file.startswith(folder) else "(draft)"
            raise Unprocessable(services.redactor.redact(f"draft policy invalid: {where}: {exc.key}: {exc.message}"),
                                field="layers") from None
    since = body.since if body.since is None or body.since.tzinfo else body.since.replace(tzinfo=UTC)
    report = PolicyReplay(draft, runtime.catalog, action_catalog()).run(
        runtime.audit.export(since), since=since.isoformat() if since else None)
    event = whatif_event(who.user.user_id, report, via="api", policy_hash=runtime.policy.hash)
    runtime.audit.append(event)
    response.headers[TRACE_HEADER] = event.trace_id
    return {**report.to_json(), "trace_id": event.trace_id}
