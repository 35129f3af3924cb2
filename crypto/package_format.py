"""Names of the export package format (docs/FORMAT.md, §11).

The server writes packages (registration/tracing/packages.py) and both readers check
them (health_export/packages.py, and the browser's export-package.js); the offline
reader imports no server code, so the names the two Python sides share live here.
"""

from __future__ import annotations

PACKAGE_FORMAT = "gastregister-export"
PACKAGE_VERSION = 1
