"""The error tree of the agent package (model configuration and model-policy errors are the policy's:
:mod:`guardrails.errors`)."""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.errors import JidokaError

__all__ = [
    "AgentError",
    "InvalidQuestion",
    "ThreadAwaitingApproval",
    "ThreadNotYours",
    "UnexpectedModelReply",
]


class AgentError(JidokaError):
    """Base of every error raised by the agent package."""


class InvalidQuestion(AgentError):
    """The question is empty or too long; nothing was run."""

    def __init__(self, reason: str, *, trace_id: str | None = None) -> None:
        self.reason = reason
        self.trace_id = trace_id
        super().__init__(f"invalid question: {reason}")


class ThreadNotYours(AgentError):
    """The thread belongs to another user."""

    def __init__(self, thread_id: str, *, trace_id: str | None = None) -> None:
        self.thread_id = thread_id
        self.trace_id = trace_id
        super().__init__(f"thread {thread_id} belongs to another user")


class ThreadAwaitingApproval(AgentError):
    """The thread is paused until approval requests are decided; it takes no new question meanwhile."""

    def __init__(self, thread_id: str, request_ids: Sequence[str], *, trace_id: str | None = None) -> None:
        self.thread_id = thread_id
        self.request_ids = tuple(request_ids)
        self.trace_id = trace_id
        super().__init__(f"thread {thread_id} is waiting for approval of {', '.join(self.request_ids)}; it "
                         "continues when that is decided (ask in a new thread meanwhile)")


class UnexpectedModelReply(AgentError):
    """The chat model answered with something other than an ``AIMessage`` (a provider or adapter bug).

    The graph treats it like any other failure of the configured model: the rules model answers the turn.
    """

    def __init__(self, model: str, reply: object) -> None:
        self.model = model
        self.reply_type = type(reply).__name__
        super().__init__(f"the model {model} replied with a {self.reply_type}, not an AI message")
