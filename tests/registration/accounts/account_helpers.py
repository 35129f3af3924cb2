"""A mail outbox for the account tests, instead of SMTP (fixture `outbox`, conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Mail:
    to: str
    subject: str
    body: str
    # Sent while the request was still being answered (its time shows in the response).
    during_request: bool = False


@dataclass
class Outbox:
    mails: list[Mail] = field(default_factory=list)

    def last_link(self, path_part: str) -> str:
        for mail in reversed(self.mails):
            match = re.search(r"https?://\S*" + re.escape(path_part) + r"\S*", mail.body)
            if match:
                return match.group(0)
        raise AssertionError(f"no mail with a link containing {path_part!r}")
