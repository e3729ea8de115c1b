"""``python -m respq.mockapi``: the stand-in upstream (needs the ``respq[mock]`` extra)."""

import sys
from importlib.util import find_spec

# mockapi deploys alone and imports nothing of respq's, so it checks its one dependency
# itself: one line naming the extra instead of an ImportError.
if find_spec("uvicorn") is None:
    print(
        "respq.mockapi: the stand-in upstream needs the 'mock' extra (uvicorn not "
        "installed): pip install 'respq[mock]'",
        file=sys.stderr,
    )
    sys.exit(2)

from .cli import main

main()
