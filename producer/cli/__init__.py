"""The ``respq`` command line: submit, follow and collect batches; ``respq run`` does the
whole job on one machine."""

from __future__ import annotations

from respq.contract.exit_codes import ExitCode

# The command modules register themselves on ``app`` when imported.
from respq.producer.cli import (  # noqa: F401
    doctor,
    estimate,
    manage,
    results,
    run,
    serve,
    status,
    submit,
    top,
)
from respq.producer.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app(prog_name="respq")


__all__ = ["ExitCode", "app", "main"]
