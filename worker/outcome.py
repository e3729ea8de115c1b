"""How a failed request is written: the output line an UpstreamError becomes, and which
failures are the account's rather than the request's."""

from __future__ import annotations

from typing import Any

from respq.contract.errors import FinalError, UpstreamError
from respq.contract.lines import answer_line, error_line, failure_body

# Codes that say the key or the account is at fault: every other request would get the
# same answer, so the batch is paused instead of failed line by line.
ACCOUNT_CODES = frozenset(
    {
        "invalid_api_key",
        "insufficient_quota",
        "account_deactivated",
        "billing_not_active",
        "billing_hard_limit_reached",
        "unsupported_country_region_territory",
    }
)
ACCOUNT_STATUSES = frozenset({401, 403})


def failure_line(custom_id: str, exc: UpstreamError) -> dict[str, Any]:
    """An HTTP answer (4xx, or 5xx after the retries) keeps it: ``response`` with the
    status and body, ``error: null``, as OpenAI writes it. Anything else (no answer, a
    2xx that is not a Response, a broken stream) is ``error`` with ``response: null``."""
    status = exc.status_code
    if status is not None and not 200 <= status < 300:
        body = failure_body(exc.body, exc.code, exc.message)
        return answer_line(custom_id, status, exc.request_id, body)
    return error_line(custom_id, exc.code, exc.message)


def is_account_failure(exc: UpstreamError) -> bool:
    return isinstance(exc, FinalError) and (
        exc.code in ACCOUNT_CODES or exc.status_code in ACCOUNT_STATUSES
    )


def pause_reason(exc: UpstreamError, run: int) -> str:
    status = f"HTTP {exc.status_code}" if exc.status_code else "no HTTP status"
    return (
        f"{run} account errors in a row, last {exc.code} ({status}): {exc.message[:200]}. "
        "Fix the key or quota, then `respq resume`; `respq retry --code "
        f"{exc.code}` re-runs the requests that failed"
    )
