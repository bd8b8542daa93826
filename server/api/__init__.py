"""The HTTP API of jidoka: routers, auth, limits, metrics and the OpenAI-compatible facade.

:func:`server.app.create_app` assembles them; nothing here holds module-level state.
"""
