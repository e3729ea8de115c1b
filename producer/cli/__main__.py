"""``python -m respq.producer.cli``: the same as the ``respq`` command."""

from respq.producer.cli import main

main()
