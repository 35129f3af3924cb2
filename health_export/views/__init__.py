"""The health-office portal under /amt: requests, downloads, decryption, keys, audit log.

Every route needs a health-office account that logged in with its second factor
(the accounts log-in completes only after TOTP for these roles; the gate in `portal`).
Objects of another office — requests, keys, locations outside the jurisdiction —
answer 404 exactly like ids that do not exist, so nothing can be probed. Views do
HTTP and templates only; the rules live in registration.tracing (the request
lifecycle that both portals share) and health_export/keys.py. One module a page
group: `overview`, `requests`, `keys`; importing them registers their routes on `bp`.
"""

from __future__ import annotations

from health_export.views import keys, overview, requests
from health_export.views.portal import bp

__all__ = ["bp", "keys", "overview", "requests"]
