"""The app the HTTP chat benchmark serves: ``create_app`` on settings from the environment (a uvicorn factory).

With ``JIDOKA_BENCH_PROFILE=<path>`` the server profiles itself (cProfile in the event loop's thread and in every
thread started after, merged into one pstats file when the app shuts down): what a server turn spends its CPU on, for
investigating, never for a figure (the profiler slows every call).
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["app"]


def _profile_threads(path: str) -> Callable[[], None]:
    """cProfile this thread and every thread started from now on; the function returned writes the merged stats
    to ``path``."""
    import cProfile
    import pstats

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start() -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.enable()

    def in_new_thread(*_args: Any) -> None:
        start()  # this thread's own profiler replaces the hook (for this thread only)

    def dump() -> None:
        with lock:
            for profile in profiles:
                profile.disable()
            if profiles:
                stats = pstats.Stats(profiles[0])
                for profile in profiles[1:]:
                    stats.add(profile)
                stats.dump_stats(path)

    threading.setprofile(in_new_thread)
    start()
    return dump


def app() -> Any:
    """``uvicorn --factory evals.bench._chat_server:app``; settings come from the process environment."""
    from server.app import create_app
    from server.settings import Settings

    path = os.environ.get("JIDOKA_BENCH_PROFILE")
    dump = _profile_threads(path) if path else None
    served = create_app(Settings.from_env())
    if dump is not None:  # written at shutdown: uvicorn ends the process by re-raising SIGTERM, so atexit never runs
        lifespan = served.router.lifespan_context

        @asynccontextmanager
        async def dumping(application: Any) -> AsyncIterator[None]:
            async with lifespan(application):
                yield
            dump()

        served.router.lifespan_context = dumping
    return served
