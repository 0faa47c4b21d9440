"""Run the command line with ``python -m driftwatch``."""

from driftwatch.cli import main

main()
