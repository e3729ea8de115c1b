"""``python -m respq.worker [--check]``: the same as ``arq respq.worker.WorkerSettings``
(a DispatchingWorker), without going through arq's CLI."""

from __future__ import annotations

import asyncio
import sys

from respq.contract.errors import MissingExtra
from respq.contract.extras import require


def main(argv: list[str] | None = None) -> int:
    try:
        require("worker")
    except MissingExtra as exc:
        print(f"respq.worker: {exc}", file=sys.stderr)
        return 2
    # Imported once the extra is known to be there.
    from respq.worker.app import worker_options
    from respq.worker.config import WorkerConfig
    from respq.worker.dispatch import DispatchingWorker
    from respq.worker.health import check_health

    args = sys.argv[1:] if argv is None else argv
    options = worker_options(WorkerConfig())
    if "--check" in args:
        return asyncio.run(check_health(options["redis_settings"], None, options["queue_name"]))
    DispatchingWorker(**options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
