"""Who may open what: role decorators and lookups scoped to the caller's business.

An object of another business is answered with 404, exactly like an id that does not
exist, so ids cannot be probed; a wrong role on a page the user knows exists is 403.
The health-office portal (/amt) guards all its routes with one check on OFFICE_ROLES.
Office and operator accounts cannot work without a second factor (SECOND_FACTOR_ROLES).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.extensions import login_manager
from registration.models import Area, Location, Role, User

P = ParamSpec("P")
R = TypeVar("R")

BUSINESS_ROLES = (Role.BUSINESS_OWNER, Role.BUSINESS_STAFF)
OFFICE_ROLES = (Role.HEALTH_OFFICE_STAFF, Role.HEALTH_OFFICE_ADMIN)
# Roles whose log-in cannot complete without TOTP, and who may not switch it off.
SECOND_FACTOR_ROLES = (*OFFICE_ROLES, Role.OPERATOR)


def signed_in_user() -> User | None:
    """The fully logged-in user (password and, where set up, second factor), or None."""
    if not current_user.is_authenticated:
        return None
    user: User = current_user._get_current_object()
    return user


def acting_user() -> User:
    """The logged-in user inside a view guarded by one of the decorators below."""
    user = signed_in_user()
    if user is None:
        abort(401)
    return user


def role_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Log-in page for anonymous callers, 403 for a role not in `roles`.

    Health-office and operator roles without a second factor are refused too: their
    log-in cannot complete without one, so such a session can only come from a changed
    account.
    """

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            user = signed_in_user()
            if user is None:
                result: R = login_manager.unauthorized()
                return result
            if user.role not in roles:
                abort(403)
            if user.role in SECOND_FACTOR_ROLES and user.totp_enabled_at is None:
                abort(403)
            if user.role in BUSINESS_ROLES and user.business_id is None:
                abort(403)
            if user.role in OFFICE_ROLES and user.health_office_id is None:
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorator


business_member_required = role_required(*BUSINESS_ROLES)
owner_required = role_required(Role.BUSINESS_OWNER)
operator_required = role_required(Role.OPERATOR)


def business_id_of(user: User) -> int:
    if user.business_id is None:
        abort(403)
    return user.business_id


def owned_location(session: Session, user: User, location_id: int) -> Location:
    """A location of the user's business (archived ones included), else 404."""
    location: Location | None = session.scalar(
        select(Location).where(
            Location.id == location_id, Location.business_id == business_id_of(user)
        )
    )
    if location is None:
        abort(404)
    return location


def owned_area(session: Session, user: User, area_id: int) -> Area:
    area: Area | None = session.scalar(
        select(Area)
        .join(Location)
        .where(Area.id == area_id, Location.business_id == business_id_of(user))
    )
    if area is None:
        abort(404)
    return area
