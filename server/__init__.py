"""``respq serve``: OpenAI's Files + Batches API over respq, and a live dashboard.

Any code written for ``client.batches`` (the official ``openai`` SDK, or tools built on
it) runs unchanged against ``http://HOST:PORT/v1``; batches run on respq's workers with
their shared rate limits and exact accounting.
"""

from server.app import create_app
from server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
