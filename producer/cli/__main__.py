"""``python -m producer.cli``: the same as the ``respq`` command."""

from producer.cli import main

main()
