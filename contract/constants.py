"""Every Redis key respq writes, in one screen.

All keys of one batch share the hash tag ``{<batch_id>}`` so the Lua scripts that touch
several of them stay valid on Redis Cluster. arq's own keys (``arq:job:<id>``,
``arq:queue``, ``arq:in-progress:<id>``) follow arq's layout; respq writes job records
there only in arq's format (JSON instead of pickle). A claimed job's in-progress key holds
``<token>:<overdue at, ms>`` instead of arq's ``1``: the run that holds the lease, and when
its requests are overdue (``worker/job_lease.py``).

Per batch ``B``:

=========================  ======  ==================================================
key                        type    holds
=========================  ======  ==================================================
``respq:{B}:meta``         hash    status, timestamps, counts, usage, errors by code
``respq:{B}:req``          hash    custom_id -> request body (compact JSON)
``respq:{B}:order``        list    custom_ids in input order
``respq:{B}:res``          hash    custom_id -> output line (OpenAI batch format): a
                                   failure as JSON, a success zstd-packed
                                   (``contract/stored.py``: read it with ``unpack``)
``respq:{B}:owner``        hash    custom_id -> arq job id, when not its first job
``respq:{B}:inflight``     hash    custom_id -> the arq job id sending it (claimed)
``respq:{B}:jobs``         list    jobs waiting for dispatch: "<job id>\n<requests>\n<arq
                                   job record>" (dispatch.lua moves them to arq's queue)
``respq:{B}:dispatched``   hash    job id -> requests, for jobs dispatched and not yet
                                   claimed (only for a batch with max_in_flight)
``respq:{B}:parent``       hash    custom_id -> the custom_id it depends on
``respq:{B}:children``     hash    custom_id -> JSON list of the custom_ids waiting on it
``respq:{B}:prev``         hash    custom_id -> its parent's response id, once known
``respq:{B}:parked``       hash    parked job id -> arq job record, while the batch is
                                   paused (``resume`` queues them again)
``respq:{B}:rescued``      hash    custom_id -> times the reconciler re-queued it
``respq:{B}:timeline``     hash    finished requests, tokens, errors and latency over
                                   time, in a fixed number of buckets
                                   (``contract/timeline.py``)
=========================  ======  ==================================================

Meta fields the reconciler keeps (``worker/reconcile.py``): ``audit_done`` (requests
done when it last saw progress), ``audit_seen_at`` (ms, then), ``audit_pos`` (where its
walk of ``order`` stands), ``audit_checked`` (1 once the counters of an ended batch were
checked against its results).

Meta fields beyond status and timestamps: ``endpoint`` (the batch's, e.g.
``/v1/chat/completions``: ``contract/endpoints.py``; a batch without it is a Responses
batch), ``total``, ``completed`` (2xx answers),
``failed``, ``incomplete`` (2xx answers with ``status: "incomplete"``, also in
``completed``), ``err:<code>``, ``usage:<field>``, ``model:<model>:<field>``, ``max_cost``,
``cost_spent``, ``cost_reserved``, ``pause_reason``, and ``account_errors`` /
``account_errors_base`` (the run of account-level failures — bad key, no quota — that
pauses a batch, counted since the ``completed`` count in the base).

Webhooks (``contract/webhooks.py``): ``webhook_url`` (the batch's own receiver, when it
names one) and ``webhook:<event id>``, one per event the batch has sent, its delivery state
as JSON (type, created_at, state, attempts, last_error, …). The script that ends a batch
writes that field and adds ``<event id>:<batch id>`` to ``respq:webhooks``, the global zset
of events to deliver scored by when each one's next attempt is due (ms); a worker that
claims one moves its score a lease ahead (``worker/webhooks.py``). It does so only when the
event has a receiver: the batch's own, or the server-wide one that
``respq:webhook-receiver`` (a string with a day's ttl) says some worker has: each worker
whose ``RESPQ_WEBHOOK_URL`` is set writes it when it starts and every minute after.

Global: ``respq:batches`` (zset batch_id by created_at), ``respq:unsealed`` (set of the
batches created and not yet sealed: validating, or cancelled while validating; create.lua
adds, seal.lua and a failed validation remove, and a ``respq serve`` start resumes or ends
each one), ``respq:workers`` (zset of worker ids by heartbeat time, with
``respq:worker:<id>`` hashes that expire two leases after the last heartbeat; their
fields: ``worker/lease.py``, ``worker/activity.py``; a worker that stops cleanly removes
both), ``respq:active`` (zset of batches the reconciler watches,
scored by when each is next due, ms) and ``respq:paused:<queue>`` (set of batch ids with
parked jobs: burst workers wait for them), ``respq:schedule:<queue>`` and
``respq:schedule-urgent:<queue>`` (zsets of the batches with jobs waiting for dispatch, by
virtual time: see ``contract/lua/dispatch.lua``).

Scheduling fields of a batch's meta: ``weight`` (2 ** priority; its share of dispatch),
``urgent`` (1: served before every normal batch), ``max_in_flight`` (0 = no cap),
``job_ttl_ms`` (the arq job records' ttl, set at dispatch).

Shared rate limits, per scope ``S`` (base URL + model; the tag is a hash of it):
``respq:limit:{S}:req`` / ``:tok`` (GCRA theoretical arrival times), ``:cool`` (the shared
429 cool-down), ``:mult`` (the adaptive rate multiplier), ``:hdr`` (limits read from
``x-ratelimit-*`` headers), and for the sliding-window algorithm ``:wreq`` / ``:wtok``
(zsets of sends) and ``:wst`` (its state). See ``worker/limiter.py``.

arq job ids respq writes (``arq:job:<id>``; JSON records built by ``contract/serializer.py``
and the Lua ``job_record``) all start with their batch's id: ``<B>:<submit>:<n>``,
``<B>:d:<token>``, … — every format is in ``contract/ids.py``. A job record lives
``job_ttl_s(result_ttl)``: the batch's result ttl plus a day (see below).

Files of the OpenAI Files API (``respq serve``; the bytes of uploads live on disk in
``RESPQ_FILES_DIR``, named by file id):

=========================  ======  ==================================================
key                        type    holds
=========================  ======  ==================================================
``respq:files``            zset    file_id by created_at (uploads and batch outputs)
``respq:file:<F>``         hash    id, bytes, created_at, filename, purpose, status,
                                   expires_at (when it has one); an output file adds
                                   batch_id and its cached size
``respq:file-expiry``      zset    upload file_id by expires_at (s): server/expiry.py's
                                   sweeper removes each one's bytes and record then
=========================  ======  ==================================================

A batch's output and error files need no stored bytes: their ids are
``file-out-<B>`` and ``file-err-<B>`` and their content is read from ``respq:{B}:res``
when asked for. A batch made without an uploaded file (``respq submit``, Python) shows
``file-in-<B>`` as its input file, rebuilt from ``respq:{B}:req`` and ``:order`` (see
``server/batch_inputs.py``). Batches made through the API add ``input_file_id``, ``endpoint``,
``failed_at`` and ``errors`` (JSON, OpenAI's ``errors`` object) to their meta hash, and
``output_expires_after`` (seconds) when the create asked for it: the batch's keys then get
that ttl when it ends, instead of ``RESPQ_RESULT_TTL``.

Tenants of ``respq serve`` (``server/auth.py``): a batch made through the API has a
``tenant`` meta field, an uploaded file a ``tenant`` record field (an output file belongs
to its batch's tenant); batches made by ``respq submit`` or Python have none. A tenant
``T`` is a name from ``RESPQ_SERVER_API_KEYS`` or ``key:<hash prefix>`` of a bare key,
never a key.

==============================  ======  ======================================"""

import hashlib
from typing import Final

PREFIX: Final = "respq"
BATCHES_KEY: Final = f"{PREFIX}:batches"
UNSEALED_KEY: Final = f"{PREFIX}:unsealed"
WORKERS_KEY: Final = f"{PREFIX}:workers"
WORKER_INFO_PREFIX: Final = f"{PREFIX}:worker:"
ACTIVE_KEY: Final = f"{PREFIX}:active"
PAUSED_PREFIX: Final = f"{PREFIX}:paused:"
SCHEDULE_PREFIX: Final = f"{PREFIX}:schedule:"
WEBHOOKS_KEY: Final = f"{PREFIX}:webhooks"
WEBHOOK_RECEIVER_KEY: Final = f"{PREFIX}:webhook-receiver"
URGENT_SCHEDULE_PREFIX: Final = f"{PREFIX}:schedule-urgent:"

# arq's key prefixes (arq.constants); repeated here so the layout reads in one place.
ARQ_JOB_PREFIX: Final = "arq:job:"
ARQ_IN_PROGRESS_PREFIX: Final = "arq:in-progress:"
DEFAULT_QUEUE_NAME: Final = "arq:queue"

# The Files API (respq serve). Upload ids are "file-" + hex, so these prefixes never clash.
FILES_KEY: Final = f"{PREFIX}:files"
FILE_PREFIX: Final = f"{PREFIX}:file:"
FILE_EXPIRY_KEY: Final = f"{PREFIX}:file-expiry"
OUTPUT_EXPIRES_FIELD: Final = "output_expires_after"
OUTPUT_FILE_PREFIX: Final = "file-out-"
ERROR_FILE_PREFIX: Final = "file-err-"
INPUT_FILE_PREFIX: Final = "file-in-"

LIMIT_PREFIX: Final = f"{PREFIX}:limit"
# The keys of one rate-limit scope, in the order the limiter scripts take them as KEYS.
LIMIT_KEY_NAMES: Final = ("req", "tok", "cool", "mult", "hdr", "wreq", "wtok", "wst")

# respq serve's tenants and dashboard sessions (see the table above).
TENANT_PREFIX: Final = f"{PREFIX}:tenant:"
SESSION_PREFIX: Final = f"{PREFIX}:session:"
TENANT_FIELD: Final = "tenant"

# The one arq function a worker registers; every respq job runs it.
JOB_FUNCTION: Final = "run_requests"

# Lifetimes, in seconds. A batch's keys live its running time plus the result ttl
# (RESPQ_RESULT_TTL, by default DEFAULT_RESULT_TTL_S) while it runs, and the result ttl once
# it ends. An arq job record respq writes lives a day longer than the result ttl
# (job_ttl_s): a queued job never loses its record while the batch it names still exists.
# The Lua scripts get both through the prelude (contract/scripts.py: job_ttl_ms).
DEFAULT_RESULT_TTL_S: Final = 7 * 86_400
JOB_TTL_MARGIN_S: Final = 86_400


def job_ttl_s(result_ttl: int) -> int:
    """How long an arq job record of a batch lives: its result ttl plus a day."""
    return result_ttl + JOB_TTL_MARGIN_S


# Meta hash fields that are not plain strings.
USAGE_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
)
USAGE_PREFIX: Final = "usage:"
MODEL_USAGE_PREFIX: Final = "model:"
ERROR_COUNT_PREFIX: Final = "err:"
INCOMPLETE_FIELD: Final = "incomplete"
WEBHOOK_URL_FIELD: Final = "webhook_url"
WEBHOOK_FIELD_PREFIX: Final = "webhook:"


# The keys of one batch, by name (see the table above): BatchKeys(B).<name>.
BATCH_KEY_NAMES: Final = (
    "meta",
    "req",
    "order",
    "res",
    "owner",
    "inflight",
    "jobs",
    "dispatched",
    "parent",
    "children",
    "prev",
    "parked",
    "rescued",
    "timeline",
)


class BatchKeys:
    """The Redis keys of one batch."""

    __slots__ = ("batch_id", *BATCH_KEY_NAMES)
    meta: str
    req: str
    order: str
    res: str
    owner: str
    inflight: str
    jobs: str
    dispatched: str
    parent: str
    children: str
    prev: str
    parked: str
    rescued: str
    timeline: str

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        base = f"{PREFIX}:{{{batch_id}}}:"
        for name in BATCH_KEY_NAMES:
            setattr(self, name, base + name)

    def all(self) -> list[str]:
        """Every key of the batch, for expiry and deletion."""
        return [getattr(self, name) for name in BATCH_KEY_NAMES]


def schedule_keys(queue_name: str) -> tuple[str, str]:
    """The fair schedules of ``queue_name``: (normal, urgent) zsets of batch_id by virtual
    time, holding the batches with jobs waiting for dispatch (see dispatch.lua)."""
    return SCHEDULE_PREFIX + queue_name, URGENT_SCHEDULE_PREFIX + queue_name


def paused_key(queue_name: str) -> str:
    """The set of batches with jobs parked off ``queue_name`` (see ``respq:paused:``)."""
    return PAUSED_PREFIX + queue_name


def tenant_batches_key(tenant: str) -> str:
    """The batches of ``tenant``, newest last (``respq:tenant:<T>:batches``)."""
    return f"{TENANT_PREFIX}{tenant}:batches"


def tenant_files_key(tenant: str) -> str:
    """The files of ``tenant``, newest last (``respq:tenant:<T>:files``)."""
    return f"{TENANT_PREFIX}{tenant}:files"


def limit_tag(scope: str) -> str:
    """The hash tag of a rate-limit scope's keys (a digest: the scope's URL, and any
    credential in it, is never written into a key name)."""
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def limit_keys(tag: str, prefix: str = LIMIT_PREFIX) -> dict[str, str]:
    """The keys of the scope with tag ``tag``, by name (see LIMIT_KEY_NAMES)."""
    base = f"{prefix}:{{{tag}}}"
    return {name: f"{base}:{name}" for name in LIMIT_KEY_NAMES}
