"""The guest pages' blueprint (`checkin.*` endpoints), on which views and display register.

It answers check-in errors as pages and sets up what every guest request needs
(web.setup_app, web.guest_requests), whichever module holds the view.
"""

from __future__ import annotations

from typing import cast

from flask import Blueprint, Flask
from flask.blueprints import BlueprintSetupState

from registration.checkin.errors import CheckInError
from registration.checkin.lookup import GUEST_PAGE_AREAS_EXTENSION, guest_page_areas
from registration.checkin.occupancy import FULL_NOTICE_CACHE_EXTENSION, FullNoticeCache
from registration.checkin.page_cache import EXTENSION as PAGE_CACHE_EXTENSION
from registration.checkin.page_cache import PageCache
from registration.checkin.web import checkin_error_response, guest_requests, setup_app
from registration.i18n import offer_guest_languages

bp = Blueprint("checkin", __name__, template_folder="templates")
guest_requests(bp)
offer_guest_languages(bp)
bp.register_error_handler(CheckInError, checkin_error_response)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    setup_app(app)
    # Per app and process: the guest pages' areas, rendered pages and counts behind "full".
    app.extensions[GUEST_PAGE_AREAS_EXTENSION] = guest_page_areas()
    app.extensions[PAGE_CACHE_EXTENSION] = PageCache()
    app.extensions[FULL_NOTICE_CACHE_EXTENSION] = FullNoticeCache()
