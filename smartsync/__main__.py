"""``python -m smartsync`` is the ``smartsync`` command."""

from smartsync.cli.main import main

main()
