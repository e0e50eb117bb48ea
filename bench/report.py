"""What every benchmark script ends with: the machine and date, a readable table unless --json,
and one JSON object on the last line."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from typing import Any


def finish(results: dict[str, Any], *, as_json: bool) -> None:
    results["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                          f"SQLite {sqlite3.sqlite_version}")
    results["date"] = time.strftime("%Y-%m-%d")
    if not as_json:
        width = max(map(len, results))
        for key, value in results.items():
            print(f"{key:>{width}}: {value}")
    print(json.dumps(results, ensure_ascii=False))
