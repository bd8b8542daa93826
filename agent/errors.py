"""The error tree of the agent package."""

from __future__ import annotations

__all__ = ["AgentError", "InvalidQuestion", "ThreadNotYours"]


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
