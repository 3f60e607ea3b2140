"""The hub's log: one handler for every logger, uvicorn's access log included, each line timed.

`text` lines start with an ISO 8601 time in UTC; `json` writes one object a line (time, level,
logger, message, and the trace when there is one) for a log collector. Uvicorn is told to keep
its own configuration out (`log_config=None`), so its lines come through here as well.
"""

import json
import logging
import time
from typing import Any

FORMATS = ("text", "json")


class _UtcTime(logging.Formatter):
    """Times as ISO 8601 in UTC, to the millisecond."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{moment}.{int(record.msecs):03d}Z"


class JsonLines(_UtcTime):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, form: str) -> None:
    """Send every logger's records to stderr in `form` (text or json) from `level` up."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines()
        if form == "json"
        else _UtcTime("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
