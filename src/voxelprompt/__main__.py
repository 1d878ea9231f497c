"""``python -m voxelprompt`` runs the command line."""

from voxelprompt.cli.main import run

run()
