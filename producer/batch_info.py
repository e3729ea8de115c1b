"""A batch's status as read from its Redis record, shaped like OpenAI's batch object."""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic import BaseModel, Field

from respq.contract.constants import (
    ERROR_COUNT_PREFIX,
    ERROR_FILE_PREFIX,
    INCOMPLETE_FIELD,
    INPUT_FILE_PREFIX,
    MODEL_USAGE_PREFIX,
    OUTPUT_EXPIRES_FIELD,
    OUTPUT_FILE_PREFIX,
    TENANT_FIELD,
    USAGE_FIELDS,
    USAGE_PREFIX,
)
from respq.contract.status import TERMINAL_STATUSES, BatchStatus
from respq.contract.webhooks import WebhookDelivery, batch_webhook, deliveries


class RequestCounts(BaseModel):
    total: int = 0
    completed: int = 0
    failed: int = 0


class UsageTotals(BaseModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def openai_shape(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.total_tokens,
        }


_TIMESTAMPS = (
    "created_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "cancelling_at",
    "cancelled_at",
    "expired_at",
    "expires_at",
    "failed_at",
    "paused_at",
)


class BatchInfo(BaseModel):
    """Counts, usage totals (per model too) and errors by code of one batch."""

    id: str
    object: str = "batch"
    endpoint: str = "/v1/responses"
    status: BatchStatus
    completion_window: str | None = None
    created_at: int | None = None
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    expired_at: int | None = None
    expires_at: int | None = None
    failed_at: int | None = None
    paused_at: int | None = None
    # The model of the batch's first line (OpenAI's batches have one model; respq's lines
    # may differ, and then this is the first line's).
    model: str | None = None
    # Seconds the output and error files live after the batch ends (batch create's
    # output_expires_after); None: RESPQ_RESULT_TTL.
    output_expires_after: int | None = None
    # Set for batches made through the Files + Batches API (respq serve); the batch
    # object shows the others' requests as a file too (api_input_file_id).
    input_file_id: str | None = None
    # The respq serve tenant that owns the batch; None for respq submit and Python.
    tenant: str | None = None
    errors: dict[str, Any] | None = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    usage_by_model: dict[str, UsageTotals] = Field(default_factory=dict)
    errors_by_code: dict[str, int] = Field(default_factory=dict)
    # Successes whose response has status "incomplete" (e.g. cut by max_output_tokens).
    incomplete: int = 0
    metadata: dict[str, Any] | None = None
    in_flight: int = 0
    pause_reason: str | None = None
    # Scheduling (producer.scheduling): 2 ** priority is the batch's weight, or "urgent".
    priority: int | str = 0
    max_in_flight: int | None = None
    queue_name: str | None = None
    # Budget (USD): set by submit(max_cost=...); spent/reserved are kept by the workers.
    max_cost: float | None = None
    cost_spent: float = 0.0
    cost_reserved: float = 0.0
    # Webhooks (contract/webhooks.py): the batch's own receiver (shown without credentials
    # or query; None: the server-wide RESPQ_WEBHOOK_URL) and each event's delivery state.
    webhook: str | None = None
    webhook_deliveries: list[WebhookDelivery] = Field(default_factory=list)

    @property
    def done(self) -> int:
        return self.request_counts.completed + self.request_counts.failed

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def output_file_id(self) -> str | None:
        """Once the batch has ended: the file of its successful lines (when it has any)."""
        ended = self.is_terminal and self.request_counts.completed
        return OUTPUT_FILE_PREFIX + self.id if ended else None

    @property
    def error_file_id(self) -> str | None:
        """Once the batch has ended: the file of its failed lines (when it has any)."""
        ended = self.is_terminal and self.request_counts.failed
        return ERROR_FILE_PREFIX + self.id if ended else None

    @property
    def api_input_file_id(self) -> str:
        """The uploaded input file, or for a batch made without one (``respq submit``,
        Python) ``file-in-<id>``, which ``respq serve`` rebuilds from the requests in
        Redis: OpenAI's batch object always names its input file."""
        return self.input_file_id or INPUT_FILE_PREFIX + self.id

    def openai_shape(self) -> dict[str, Any]:
        """The OpenAI batch object (plus ``errors_by_code``, ``usage_by_model`` and
        respq's fields: ``respq_webhook``, ``respq_webhook_deliveries``). Its status is one
        of OpenAI's: a paused batch is ``in_progress`` with ``paused: true`` (and
        ``paused_at``, ``pause_reason``), so that the official SDK's ``Batch`` type accepts
        every batch respq returns."""
        data = self.model_dump(
            mode="json",
            exclude={
                "usage",
                "usage_by_model",
                "in_flight",
                "tenant",
                "webhook",
                "webhook_deliveries",
            },
        )
        paused = self.status is BatchStatus.PAUSED
        data["paused"] = paused
        if paused:
            data["status"] = BatchStatus.IN_PROGRESS.value
        data["input_file_id"] = self.api_input_file_id
        data["usage"] = self.usage.openai_shape()
        data["usage_by_model"] = {m: u.model_dump() for m, u in self.usage_by_model.items()}
        data["output_file_id"] = self.output_file_id
        data["error_file_id"] = self.error_file_id
        # OpenAI's completed_at is only a completed batch's; respq keeps every ending's.
        if self.status != BatchStatus.COMPLETED:
            data["completed_at"] = None
        seconds = self.output_expires_after
        data["output_expires_after"] = (
            {"anchor": "created_at", "seconds": seconds} if seconds else None
        )
        data["respq_webhook"] = self.webhook
        data["respq_webhook_deliveries"] = [
            d.model_dump(mode="json") for d in self.webhook_deliveries
        ]
        return data

    @classmethod
    def from_meta(cls, raw: dict[bytes, bytes], *, in_flight: int = 0) -> BatchInfo:
        meta = {k.decode(): v.decode() for k, v in raw.items()}
        usage = UsageTotals()
        by_model: dict[str, UsageTotals] = {}
        errors: dict[str, int] = {}
        for key, value in meta.items():
            if key.startswith(USAGE_PREFIX):
                name = key[len(USAGE_PREFIX) :]
                if name in USAGE_FIELDS:
                    setattr(usage, name, int(value))
            elif key.startswith(MODEL_USAGE_PREFIX):
                model, _, name = key[len(MODEL_USAGE_PREFIX) :].rpartition(":")
                if model and (name in USAGE_FIELDS or name == "requests"):
                    setattr(by_model.setdefault(model, UsageTotals()), name, int(value))
            elif key.startswith(ERROR_COUNT_PREFIX) and int(value):
                errors[key[len(ERROR_COUNT_PREFIX) :]] = int(value)
        usage.requests = sum(u.requests for u in by_model.values())
        stamps = {name: int(float(meta[name])) for name in _TIMESTAMPS if meta.get(name)}
        if not stamps.get("expires_at"):
            stamps.pop("expires_at", None)
        metadata = orjson.loads(meta["metadata"]) if meta.get("metadata") else None
        api_errors = orjson.loads(meta["errors"]) if meta.get("errors") else None
        return cls.model_validate(
            {
                "id": meta["id"],
                "status": BatchStatus(meta.get("status", "validating")),
                "completion_window": meta.get("completion_window") or None,
                "request_counts": RequestCounts(
                    total=int(meta.get("total", 0)),
                    completed=int(meta.get("completed", 0)),
                    failed=int(meta.get("failed", 0)),
                ),
                "usage": usage,
                "usage_by_model": by_model,
                "errors_by_code": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
                "incomplete": int(meta.get(INCOMPLETE_FIELD, 0)),
                "metadata": metadata,
                "endpoint": meta.get("endpoint") or "/v1/responses",
                "input_file_id": meta.get("input_file_id") or None,
                "tenant": meta.get(TENANT_FIELD) or None,
                "model": meta.get("model") or None,
                "output_expires_after": int(meta.get(OUTPUT_EXPIRES_FIELD) or 0) or None,
                "errors": api_errors,
                "in_flight": in_flight,
                "pause_reason": meta.get("pause_reason") or None,
                "priority": _priority(meta),
                "max_in_flight": int(meta.get("max_in_flight") or 0) or None,
                "queue_name": meta.get("queue_name") or None,
                "max_cost": float(meta["max_cost"]) if meta.get("max_cost") else None,
                "cost_spent": float(meta.get("cost_spent") or 0),
                "cost_reserved": float(meta.get("cost_reserved") or 0),
                "webhook": batch_webhook(meta),
                "webhook_deliveries": deliveries(meta),
                **stamps,
            }
        )


def _priority(meta: dict[str, str]) -> int | str:
    if meta.get("urgent") == "1":
        return "urgent"
    weight = float(meta.get("weight") or 1)
    return round(math.log2(weight)) if weight > 0 else 0
