"""The life of a trace request, in one place that both portals call.

A health office asks for one location and one bounded window (`requests`); the
owner releases it, or the configured deadline does (`release`, `jobs`); the
matching visits are sealed into one export package that the office downloads
(`packages`); the request is closed, withdrawn or expires (`requests`, `jobs`).
Every step is audited, and both sides are told by mail (`notices`). States follow
IRIS: requested → released → downloaded → closed, or aborted / expired.

The office portal (health_export) and the business portal (registration.portal)
only call these functions; neither holds a rule of its own, so the two sides can
never disagree about what a request may do next.
"""
