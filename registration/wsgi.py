"""The WSGI entry point: `gunicorn -c python:registration.gunicorn_conf registration.wsgi:app`."""

from registration import create_app

app = create_app()
