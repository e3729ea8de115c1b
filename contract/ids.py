"""Every id respq makes for a batch's jobs and output lines, defined once.

An id is an :class:`IdFormat`: a template such as ``{batch}:d:{token}``. Python builds it
with the format (``DEFERRED_JOB(batch=..., token=...)``); the Lua prelude
(``contract/scripts.py``) gets a function generated from the same template
(``ID.deferred_job(batch, token)``), so the two sides cannot disagree.

arq job ids (``arq:job:<id>``) start with their batch's id:

==================================  ========================================================
``<B>:<submit>:<n>``                the n-th job of a submit (enqueue.lua)
``<B>:retry-<token>:<page>-<n>``    ``respq retry``: the n-th job of a page (retry.lua)
``<B>:d:<token>``                   a request deferred to a later run (worker/store.py)
``<B>:k:<ms>:<parent>:<n>``         children a parent released when it succeeded (_common.lua)
``<B>:p:<token>``                   a paused batch's parked requests (claim.lua)
``<B>:r:<token>:<n>``               re-queued by the reconciler (audit.lua)
==================================  ========================================================

Output line ids: ``batch_req_<hex>`` as OpenAI writes them; ``batch_req_<token>_<n>`` for
the lines one script call writes (cancel.lua, claim.lua), and ``batch_req_dep_<s>_<n>``
for the ``dependency_failed`` lines of a failed request's children (_common.lua).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class IdFormat:
    """One kind of id: its Lua name and its template (``{field}`` parts and fixed text)."""

    name: str
    template: str

    @property
    def fields(self) -> tuple[str, ...]:
        """The template's fields, in order: the Lua function's parameters."""
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.template) if f)

    def __call__(self, **values: str | int) -> str:
        if set(values) != set(self.fields):
            raise TypeError(f"{self.name} takes {self.fields}, got {sorted(values)}")
        return self.template.format(**values)

    def parts(self) -> list[tuple[str, str]]:
        """(fixed text, field) pairs in order; either may be empty (how Lua builds it)."""
        return [
            (text, field or "") for text, field, _, _ in string.Formatter().parse(self.template)
        ]


SUBMIT_JOB: Final = IdFormat("submit_job", "{batch}:{submit}:{n}")
RETRY_JOB: Final = IdFormat("retry_job", "{batch}:retry-{token}:{page}-{n}")
DEFERRED_JOB: Final = IdFormat("deferred_job", "{batch}:d:{token}")
CHILD_JOB: Final = IdFormat("child_job", "{batch}:k:{ms}:{parent}:{n}")
PARKED_JOB: Final = IdFormat("parked_job", "{batch}:p:{token}")
RESCUED_JOB: Final = IdFormat("rescued_job", "{batch}:r:{token}:{n}")
LINE: Final = IdFormat("line", "batch_req_{token}")
LINE_IN_CALL: Final = IdFormat("line_in_call", "batch_req_{token}_{n}")
DEPENDENCY_LINE: Final = IdFormat("dependency_line", "batch_req_dep_{at}_{n}")

# Every format, for the Lua prelude (its table ID) and the test that compares the sides.
ID_FORMATS: Final = (
    SUBMIT_JOB,
    RETRY_JOB,
    DEFERRED_JOB,
    CHILD_JOB,
    PARKED_JOB,
    RESCUED_JOB,
    LINE,
    LINE_IN_CALL,
    DEPENDENCY_LINE,
)


def new_token() -> str:
    """The random part of a job id, or of the line ids one script call writes: 12 hex
    digits, enough that two calls never meet within one batch."""
    return secrets.token_hex(6)


def new_line_id() -> str:
    """A fresh output line id, as long as OpenAI's (``batch_req_`` + 24 hex digits)."""
    return LINE(token=secrets.token_hex(12))
