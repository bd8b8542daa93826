"""The error tree of the agent package.

Model-policy errors also derive from :class:`guardrails.errors.PolicyError`
(they are policy-file errors that name the file and key), so code that already
reports bad policy files reports them too.
"""

from __future__ import annotations

from collections.abc import Sequence

from guardrails.errors import PolicyError, PolicyLoosening

__all__ = [
    "AgentError",
    "InvalidQuestion",
    "ModelConfigError",
    "ModelNotApproved",
    "ModelPolicyError",
    "ModelPolicyLoosening",
    "ThreadAwaitingApproval",
    "ThreadNotYours",
    "UnknownRiskClass",
]


class AgentError(Exception):
    """Base of every error raised by the agent package."""


class InvalidQuestion(AgentError):
    """The question is empty or too long; nothing was run."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid question: {reason}")


class ThreadNotYours(AgentError):
    """The thread belongs to another user."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        super().__init__(f"thread {thread_id} belongs to another user")


class ThreadAwaitingApproval(AgentError):
    """The thread is paused until approval requests are decided; it takes no new question meanwhile."""

    def __init__(self, thread_id: str, request_ids: Sequence[str]) -> None:
        self.thread_id = thread_id
        self.request_ids = tuple(request_ids)
        super().__init__(f"thread {thread_id} is waiting for approval of {', '.join(self.request_ids)}; it "
                         "continues when that is decided (ask in a new thread meanwhile)")


class ModelConfigError(AgentError, ValueError):
    """A model setting (``JIDOKA_MODEL``, ``OPENAI_BASE_URL``, ...) cannot be used; names the variable."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


class ModelPolicyError(AgentError, PolicyError):
    """The ``models:`` section of a policy file is invalid; names the file and key."""


class ModelPolicyLoosening(ModelPolicyError, PolicyLoosening):
    """A lower policy layer tries to approve a model or a risk class the layers above do not."""


class ModelNotApproved(AgentError):
    """The configured model is not approved by the policy; nothing may run with it."""

    def __init__(self, model_id: str, approved: Sequence[str], file: str, reason: str) -> None:
        self.model_id = model_id
        """The refused model, as written in ``JIDOKA_MODEL`` (e.g. ``openai:gpt-4o``)."""
        self.approved = tuple(approved)
        """Ids of the models the policy approves."""
        self.file = file
        """The policy file to change to approve the model."""
        self.reason = reason
        """Why: which layer does not list it or removes it."""
        shown = ", ".join(self.approved) or "none"
        super().__init__(f"model {model_id!r} is not approved: {reason}. Approved models: {shown}. "
                         f"To use it, change {file} (section `models:`), "
                         "or set JIDOKA_MODEL to an approved model.")


class UnknownRiskClass(AgentError, ValueError):
    """A risk class that is not one of the tool risk classes (read, advisory, approval, autonomous)."""

    def __init__(self, risk_class: str, known: Sequence[str]) -> None:
        self.risk_class = risk_class
        super().__init__(f"unknown risk class {risk_class!r}; known: {', '.join(known)}")
