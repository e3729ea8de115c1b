"""Exact sliding-window (60 s) request and token limits, and OpenAI-style duration strings.

Requests are counted at arrival. A request's token cost is its input tokens (estimated from
the body: instructions + every input text part, ceil(chars / 4), +85 per image, +200 per file)
plus ``max_output_tokens`` when given, else the output tokens actually produced. A rejected
request consumes no budget.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW = 60.0


def format_duration(seconds: float) -> str:
    """Format like OpenAI's ``x-ratelimit-reset-*``: ``1s``, ``6m0s``, ``12ms``, ``2m59.56s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs = round(secs, 2)
    if secs >= 60:  # rounding carried over
        minutes, secs = minutes + 1, 0.0
    sec_text = f"{secs:.2f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{sec_text}"
    if minutes:
        return f"{int(minutes)}m{sec_text}"
    return sec_text


@dataclass(slots=True)
class Decision:
    """The limiter's verdict for one request, with what the x-ratelimit headers need."""

    allowed: bool
    limited_by: str  # "" when allowed, else "requests" or "tokens"
    remaining_requests: int
    remaining_tokens: int
    reset_requests: float
    reset_tokens: float
    retry_after: float


class SlidingWindowLimiter:
    """Sliding log of admitted requests (timestamps) and tokens ((timestamp, n) + running sum).

    Always tracks the highest request and token counts seen in any 60 s window, even when no
    limit is set, so tests can check that a client-side limiter kept under a given budget.
    """

    def __init__(self) -> None:
        self._requests: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        self._token_sum = 0
        self.max_requests_in_window = 0
        self.max_tokens_in_window = 0

    def reset(self) -> None:
        self._requests.clear()
        self._tokens.clear()
        self._token_sum = 0
        self.max_requests_in_window = 0
        self.max_tokens_in_window = 0

    def _prune(self, now: float) -> None:
        edge = now - WINDOW
        reqs = self._requests
        while reqs and reqs[0] <= edge:
            reqs.popleft()
        toks = self._tokens
        while toks and toks[0][0] <= edge:
            self._token_sum -= toks.popleft()[1]

    def _tokens_free_after(self, now: float, need: int, tpm: int) -> float:
        """Seconds until ``need`` more tokens fit under ``tpm`` (only called on rejection)."""
        excess = self._token_sum + need - tpm
        if need > tpm:
            return WINDOW
        freed = 0
        for ts, n in self._tokens:
            freed += n
            if freed >= excess:
                return max(0.0, ts + WINDOW - now)
        return WINDOW

    def check(self, now: float, tokens: int, rpm: int, tpm: int) -> Decision:
        """Admit (and record) the request, or reject it without consuming budget."""
        self._prune(now)
        reqs = self._requests
        n_req = len(reqs)
        limited_by = ""
        retry_after = 0.0
        if rpm and n_req + 1 > rpm:
            limited_by = "requests"
            retry_after = reqs[n_req - rpm] + WINDOW - now if n_req >= rpm else WINDOW
        elif tpm and self._token_sum + tokens > tpm:
            limited_by = "tokens"
            retry_after = self._tokens_free_after(now, tokens, tpm)
        if not limited_by:
            reqs.append(now)
            self._tokens.append((now, tokens))
            self._token_sum += tokens
            n_req += 1
            if n_req > self.max_requests_in_window:
                self.max_requests_in_window = n_req
            if self._token_sum > self.max_tokens_in_window:
                self.max_tokens_in_window = self._token_sum
        reset_requests = reqs[0] + WINDOW - now if reqs else 0.0
        reset_tokens = self._tokens[0][0] + WINDOW - now if self._tokens else 0.0
        return Decision(
            allowed=not limited_by,
            limited_by=limited_by,
            remaining_requests=max(0, rpm - len(reqs)) if rpm else 0,
            remaining_tokens=max(0, tpm - self._token_sum) if tpm else 0,
            reset_requests=max(0.0, reset_requests),
            reset_tokens=max(0.0, reset_tokens),
            retry_after=max(0.001, retry_after) if limited_by else 0.0,
        )
