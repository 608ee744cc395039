"""`python -m helmguard.cli`: the same as the `helmguard` script."""

from helmguard.cli import main

main()
