"""``python -m respq``: the same as the ``respq`` command."""

from respq.producer.cli import main

main()
