"""``python -m respq.worker [--check]``: the same as ``arq respq.worker.WorkerSettings``
(a DispatchingWorker)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, cast

from respq.contract.errors import MissingExtra
from respq.contract.extras import require


def main(argv: list[str] | None = None) -> int:
    try:
        require("worker")
    except MissingExtra as exc:
        print(f"respq.worker: {exc}", file=sys.stderr)
        return 2
    # Imported once the extra is known to be there.
    from arq.worker import get_kwargs

    from respq.worker.app import WorkerSettings, create_worker
    from respq.worker.health import check_health

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
