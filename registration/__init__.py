"""Gastregister: guest check-in, business portal, accounts and the app factory."""

from registration.app import create_app

__all__ = ["create_app"]
