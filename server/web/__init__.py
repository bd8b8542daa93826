"""The browser side of jidoka: the embeddable chat widget, the demo host page, the approver inbox and the audit
viewer — plain HTML, CSS and JavaScript (no build step) shipped as package data under ``static/`` and served by
:mod:`server.web.routes`."""
