"""`python -m reconciler`, and the `reconciler` command's entry point."""

import gc


def main() -> None:
    """Run the command line. A `plan` or `validate` whose kept answer still holds is answered
    before anything else is imported (cli/kept.py: a walk and a few stats); any other run is
    recorded so that its answer may be kept when it completes. Its start-up imports (click,
    pydantic, the record models) make only objects that live as long as the process: they run
    with the cycle collector off (each pass of it re-walked them: 10 ms of `validate`'s 200,
    30 ms of `apply`'s), and are then frozen out of its later passes (`gc.freeze`), which a
    long plan or apply gains too."""
    from reconciler.cli import kept

    kept.answer()  # exits here when a kept answer to this command line is still true
    gc.disable()
    try:
        from reconciler.cli.group import main as run
    finally:
        gc.enable()
    gc.freeze()
    try:
        run()
    except SystemExit as exit:
        kept.finish(exit.code)
        raise


# Guarded: a process that parses record files for a pool started with spawn (Windows, macOS)
# imports this module again, and must not run the command a second time.
if __name__ == "__main__":
    main()
