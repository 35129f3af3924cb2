"""Why a portal action was refused; the views show the translated message."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l


class PortalError(Exception):
    """Base class; `message` is a translated text for the owner."""

    message: Any = _l("This action is not possible.")

    def __init__(self, message: Any = None) -> None:
        super().__init__(type(self).__name__)  # the text is translated when shown, not here
        if message is not None:
            self.message = message


class AreaSpecError(PortalError):
    """The bulk area text could not be understood (message says which part)."""


class AreaNameTakenError(PortalError):
    """An archived area cannot come back: an active one has its name now."""


class TooManyAreasError(PortalError):
    message = _l("A location can have at most %(count)s active areas.")


class StaffEntryError(PortalError):
    """A staff entry with implausible times."""
