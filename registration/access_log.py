"""Access logs name the route, never the path.

Paths carry secrets and identifiers: a verification, reset or invitation token, the
entrance screen's secret, area codes, ids of requests. A log that records the path
keeps them for as long as the log lives and hands them to whoever reads it (the
system test found a verification link in both nginx's and gunicorn's log). So every
response names the URL rule that served it in `ROUTE_HEADER` (`/konto/verify/<token>`,
`/c/<code>`), and both access logs record that instead of the path: gunicorn's
format (gastregister/gunicorn_conf.py) and nginx's (deploy/nginx/gastregister.conf,
which also hides the header from clients). A request no rule matched is logged as
`-`, so an attacker's path (control characters included) never reaches a log.
"""

from __future__ import annotations

from flask import Flask, Response, request

ROUTE_HEADER = "X-Gastregister-Route"
# gunicorn's atom for that response header (its names are lower-cased).
GUNICORN_ROUTE_ATOM = "%({" + ROUTE_HEADER.lower() + "}o)s"
NO_ROUTE = "-"


def name_the_route(response: Response) -> Response:
    rule = request.url_rule
    response.headers[ROUTE_HEADER] = rule.rule if rule is not None else NO_ROUTE
    return response


def register_access_log(app: Flask) -> None:
    app.after_request(name_the_route)
