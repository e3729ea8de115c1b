"""mockapi: a local stand-in for an OpenAI-compatible API (``python -m respq.mockapi``; the
``respq[mock]`` extra): Responses, chat completions, embeddings, completions and
moderations. Its names load on first use, so importing the package needs none of its
dependencies.

Deployed alone: imports nothing from ``producer`` or ``worker``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import MockApp, create_app
    from .cli import main
    from .config import MockConfig
    from .ratelimit import format_duration
    from .server import MockServer

_WHERE = {
    "MockApp": ".app",
    "create_app": ".app",
    "main": ".cli",
    "MockConfig": ".config",
    "format_duration": ".ratelimit",
    "MockServer": ".server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)


__all__ = ["MockApp", "MockConfig", "MockServer", "create_app", "format_duration", "main"]
