"""Gastregister's composition root: the one package that knows every side.

It puts the service together from the shared core and business side
(`registration`) and the health-office side (`health_export`): the app factory
(app.py), the `gastregister` command (cli.py) and what gunicorn runs (wsgi.py,
gunicorn_conf.py). No other package imports it (docs/ARCHITECTURE.md, enforced by
`make imports`).

`create_app` is imported on first use (PEP 562): the `gastregister` command loads this
package too, and its offline commands (`decrypt`, `keygen`) need neither Flask's app
nor the database, so they start without importing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastregister.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from gastregister.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
