"""Keys out of uvicorn's logs: the value of a ``token`` query parameter is masked.

The dashboard's sign-in link is ``/?token=KEY``. uvicorn's access log writes the raw
query string, so the parameter's name is matched as the app reads it, percent- and
plus-decoded: ``?%74oken=KEY`` is the same parameter. (uvicorn's trace level, which logs
whole scopes, is refused by ``server/run.py``.)
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

MASK = "***"


def _is_token(raw_name: str) -> bool:
    # Case and surrounding space folded too: masking more than the app reads is harmless.
    return unquote_plus(raw_name).strip().lower() == "token"


def redact_query(query: str) -> str:
    """``query`` (raw, ``a=1&token=KEY``) with every token value masked."""
    parts = []
    for part in query.split("&"):
        name = part.partition("=")[0]
        parts.append(f"{name}={MASK}" if _is_token(name) else part)
    return "&".join(parts)


def redact(text: str) -> str:
    """A logged path ``/x?query`` with its token values masked."""
    path, sep, query = text.partition("?")
    return path + sep + redact_query(query) if sep else text


class RedactTokens(logging.Filter):
    """Masks ``token`` query values in the arguments of uvicorn's access-log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            args: tuple[Any, ...] = record.args
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


def install() -> None:
    """Attach the filter to uvicorn's access log (after uvicorn configured it)."""
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
