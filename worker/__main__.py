"""``python -m worker``: the same as ``arq worker.WorkerSettings``."""

from __future__ import annotations

import sys
from typing import Any, cast

from arq.worker import check_health, run_worker

from worker.app import WorkerSettings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        return check_health(cast(Any, WorkerSettings))
    run_worker(cast(Any, WorkerSettings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
