"""The WSGI entry point: `gunicorn -c python:gastregister.gunicorn_conf gastregister.wsgi:app`."""

from gastregister import create_app

app = create_app()
