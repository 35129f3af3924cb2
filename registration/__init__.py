"""The shared core and the business side of Gastregister.

The core: settings, database and the one data model, accounts, the audit log, mail,
health-office jurisdiction and keys, the trace-request lifecycle (tracing) and
retention. The business side on top of it: the guest check-in (checkin) and the
business portal (portal). It imports neither the health-office side (health_export)
nor the composition root (gastregister), which builds the app from both.
"""
