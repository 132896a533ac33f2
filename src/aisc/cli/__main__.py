"""``python -m aisc.cli`` runs the ``aisc`` command."""

from aisc.cli.main import main

main()
