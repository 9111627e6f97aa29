"""`python -m mlwatch`: the command line (mlwatch.cli)."""

from mlwatch.cli import main

main()
