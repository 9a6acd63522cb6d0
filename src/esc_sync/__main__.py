"""`python -m esc_sync` runs the command line."""

from esc_sync.cli import main

main()
