"""Policy what-if: replay the audited tool calls and action requests under a draft policy, before it ships.

- :mod:`guardrails.whatif.draft` — a draft folder (or layer files sent over the API) loaded as the live policy is;
- :mod:`guardrails.whatif.replay` — :class:`PolicyReplay`, the decisions the draft would make on the recorded calls;
- :mod:`guardrails.whatif.report` — :class:`WhatIfReport` and the ``policy_whatif`` audit event of a run.
"""

from guardrails.whatif.draft import DraftPolicy, layer_files, load_draft, materialise_draft
from guardrails.whatif.replay import PolicyReplay
from guardrails.whatif.report import DecisionChange, RouteChange, WhatIfReport, whatif_event

__all__ = ["DecisionChange", "DraftPolicy", "PolicyReplay", "RouteChange", "WhatIfReport", "layer_files",
           "load_draft", "materialise_draft", "whatif_event"]
