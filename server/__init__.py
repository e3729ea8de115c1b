"""``respq serve`` (the ``respq[server]`` extra): OpenAI's Files + Batches API over respq,
and a live dashboard.

Any code written for ``client.batches`` (the official ``openai`` SDK, or tools built on
it) runs unchanged against ``http://HOST:PORT/v1``; batches run on respq's workers with
their shared rate limits and exact accounting. Its names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from respq.contract.extras import lazy_attributes

if TYPE_CHECKING:
    from respq.server.app import create_app
    from respq.server.settings import ServerSettings

_WHERE = {"create_app": "respq.server.app", "ServerSettings": "respq.server.settings"}


__getattr__ = lazy_attributes("respq.server", "server", _WHERE)

__all__ = ["ServerSettings", "create_app"]
