"""Where `decrypt` used to live: it is in offline_commands.py now, the operator's
health-office commands in office_commands.py. Kept only so the browser test's import
(`from health_export.cli import decrypt`) works until it imports offline_commands.
"""

from __future__ import annotations

from health_export.offline_commands import decrypt as decrypt
