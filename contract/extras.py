"""respq's optional parts and the packages each needs: using a part whose extra is not
installed is one line naming the extra, never an ImportError from deep inside."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from respq.contract.errors import MissingExtra

# extra → (what it is, the modules it brings). Kept in step with pyproject.toml's extras.
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "worker": ("the worker", ("arq", "tenacity", "aiohttp", "httpx_aiohttp", "prometheus_client")),
    "server": ("the Batch API server (respq serve)", ("starlette", "uvicorn", "python_multipart")),
    "mock": ("the stand-in upstream (mockapi)", ("uvicorn",)),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRAS[extra][1] if find_spec(name) is None]


def require(*extras: str) -> None:
    """Raise MissingExtra for the first of ``extras`` that is not installed."""
    for extra in extras:
        missing = missing_modules(extra)
        if missing:
            raise MissingExtra(extra, EXTRAS[extra][0], missing)


def lazy_attributes(package: str, extra: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each public name is imported from the module
    ``where`` names on first use, after checking that ``extra`` is installed. Importing the
    package itself then costs nothing and needs none of the extra's dependencies."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        require(extra)
        return getattr(import_module(module), name)

    return __getattr__
