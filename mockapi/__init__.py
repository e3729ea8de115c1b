"""mockapi: a local stand-in for an OpenAI-compatible API (``python -m mockapi``): Responses,
chat completions, embeddings, completions and moderations.

Deployed alone: imports nothing from ``producer`` or ``worker``.
"""

from .app import MockApp, create_app
from .cli import main
from .config import MockConfig
from .ratelimit import format_duration
from .server import MockServer

__all__ = ["MockApp", "MockConfig", "MockServer", "create_app", "format_duration", "main"]
