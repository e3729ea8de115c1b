"""Which failures are the account's rather than the request's (a bad key, no quota): after
RESPQ_ACCOUNT_ERROR_PAUSE of them in a row the batch is paused instead of failed line by
line, with a reason that says what to do."""

from __future__ import annotations

from respq.contract.errors import FinalError, UpstreamError

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
