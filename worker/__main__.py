"""``python -m worker``: the same as ``arq worker.WorkerSettings`` (a ResilientWorker)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, cast

from arq.worker import get_kwargs

from worker.app import WorkerSettings
from worker.resilient import check_health, create_worker


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        options: dict[str, Any] = get_kwargs(cast(Any, WorkerSettings))
        return asyncio.run(
            check_health(
                options.get("redis_settings"),
                options.get("health_check_key"),
                options.get("queue_name"),
            )
        )
    create_worker(WorkerSettings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
