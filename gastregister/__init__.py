"""Gastregister's composition root: the one package that knows every side.

It puts the service together from the shared core and business side
(`registration`) and the health-office side (`health_export`): the app factory
(app.py), the `gastregister` command (cli.py) and what gunicorn runs (wsgi.py,
gunicorn_conf.py). No other package imports it (docs/ARCHITECTURE.md, enforced by
`make imports`).
"""

from gastregister.app import create_app

__all__ = ["create_app"]
