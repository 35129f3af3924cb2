"""Business and person names typed at sign-up are stored by the one rule (registration/names.py)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration.models import User
from tests.factories import PASSWORD
from tests.forms import post_form
from tests.registration.accounts.account_helpers import Outbox

RLO = "\u202e"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


def _sign_up(client: FlaskClient, business_name: str, display_name: str):  # type: ignore[no-untyped-def]
    return post_form(
        client,
        "/konto/signup",
        {
            "business_name": business_name,
            "display_name": display_name,
            "email": "lotte@example.org",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "accept_terms": "y",
        },
    )


def test_a_right_to_left_override_in_a_business_name_is_removed(
    client: FlaskClient, outbox: Outbox, db_session: Session
) -> None:
    response = _sign_up(client, f"  Bäckerei {RLO}Sonne\u200f  {FAMILY} ", f"Lotte{RLO} M.")
    assert response.status_code == 303, response.text
    user = db_session.scalar(select(User).where(User.email == "lotte@example.org"))
    assert user is not None and user.business is not None
    assert user.business.name == f"Bäckerei Sonne {FAMILY}"
    assert user.display_name == "Lotte M."


def test_a_business_name_of_invisible_characters_only_is_no_name(
    client: FlaskClient, outbox: Outbox, db_session: Session
) -> None:
    response = _sign_up(client, f"{RLO}\u200b\u2066", "Lotte")
    assert response.status_code == 422
    assert "Bitte geben Sie den Namen Ihres Betriebs ein" in response.text
    assert db_session.scalar(select(User).where(User.email == "lotte@example.org")) is None
