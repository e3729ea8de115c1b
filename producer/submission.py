"""What a submit asks for besides its requests: ``Submission``, made once from the
options of ``BatchClient.submit``, ``respq submit`` or ``POST /v1/batches`` and handed
down whole to ``BatchClient.submit_prepared``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from respq.contract.endpoints import Endpoint
from respq.producer.scheduling import Scheduling


@dataclass(frozen=True)
class Submission:
    """A batch's id (None: a new one), metadata, completion window (None: the setting's),
    budget in USD, scheduling, webhook receiver (one that passed
    ``BatchClient.check_webhook``) and endpoint (None: Responses)."""

    batch_id: str | None = None
    metadata: dict[str, Any] | None = None
    completion_window: str | None = None
    max_cost: float | None = None
    scheduling: Scheduling = field(default_factory=Scheduling)
    webhook: str | None = None
    endpoint: Endpoint | None = None
