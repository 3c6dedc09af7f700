"""`python -m reconciler`."""

from reconciler.cli import main

# Guarded: a process that parses record files for a pool started with spawn (Windows, macOS)
# imports this module again, and must not run the command a second time.
if __name__ == "__main__":
    main()
