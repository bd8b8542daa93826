"""Request bodies of the API (validated by pydantic; a bad field is a 422 naming it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["THREAD_ID_PATTERN", "ChatRequest", "DecisionRequest", "DemoTokenRequest"]

THREAD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""Thread ids: what ``Copilot`` makes (``th-`` + hex) or a client's own short id."""


class ChatRequest(BaseModel):
    """``POST /v1/chat``: one question, in a new thread or an existing one of the caller's."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, description="The question, in plain language.")
    thread_id: str | None = Field(default=None, pattern=THREAD_ID_PATTERN,
                                  description="Continue this thread (omit for a new one).")


class DecisionRequest(BaseModel):
    """``POST /v1/approvals/{id}/approve|reject|undo``."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000, description="Why; kept with the decision.")


class DemoTokenRequest(BaseModel):
    """``POST /v1/demo/token``: the demo user to log in as."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=64, description="A user id of the policy, e.g. pat.planner.")
