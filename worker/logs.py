"""Logging set-up: plain text or one JSON object per line (RESPQ_LOG_FORMAT=json)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from respq.contract.errors import SettingsError
from respq.worker.config import WorkerConfig

_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra=`` fields (batch_id, custom_id) are kept."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def setup_logging(config: WorkerConfig) -> None:
    """Configure the respq and arq loggers once per process."""
    root = logging.getLogger("respq")
    if getattr(root, "_respq_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logging.getLevelNamesMapping().get(str(config.log_level).upper())
    if level is None:  # only a config built without validation gets here
        raise SettingsError(
            f"bad setting RESPQ_LOG_LEVEL={config.log_level!r}: use DEBUG, INFO, WARNING, "
            "ERROR or CRITICAL"
        )
    root.addHandler(handler)
    root.setLevel(level)
    arq = logging.getLogger("arq")
    # `arq respq.worker.WorkerSettings` configures arq's logger itself; `python -m respq.worker`
    # does not. Either way arq logs a line per job start and end at INFO, noise at 60k jobs a
    # batch: keep it to warnings unless debugging.
    if not arq.handlers:
        arq.addHandler(handler)
        arq.propagate = False
    arq.setLevel(level if level == logging.DEBUG else max(level, logging.WARNING))
    root._respq_configured = True  # type: ignore[attr-defined]
