"""The business portal's blueprint, on which each views_* module registers its pages.

Endpoint names stay `portal.<function>` whichever module holds the view, so templates'
url_for calls do not depend on how the views are split.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates")

Page = str | Response | tuple[str, int]


def see_other(endpoint: str, **values: Any) -> Response:
    """303 to a page: a reload after a form post shows it again instead of re-posting."""
    return redirect(url_for(endpoint, **values), code=303)
