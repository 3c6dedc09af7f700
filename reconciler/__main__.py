"""`python -m reconciler`, and the `reconciler` command's entry point."""

import gc


def main() -> None:
    """Run the command line. Its start-up imports (click, pydantic, the record models) make
    only objects that live as long as the process: they run with the cycle collector off
    (each pass of it re-walked them: 10 ms of `validate`'s 200, 30 ms of `apply`'s), and are
    then frozen out of its later passes (`gc.freeze`), which a long plan or apply gains too."""
    gc.disable()
    try:
        from reconciler.cli import main as run
    finally:
        gc.enable()
    gc.freeze()
    run()


# Guarded: a process that parses record files for a pool started with spawn (Windows, macOS)
# imports this module again, and must not run the command a second time.
if __name__ == "__main__":
    main()
