"""What every command shares: error mapping, --env/--repo, colour."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.cli import kept
from reconciler.errors import LoadError, ReconcilerError, cut
from reconciler.formats import redact
from reconciler.reconcile.workspace import Workspace
from reconciler.records.settings import SANDBOX
from reconciler.render import render_problems

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger(__name__)
# The words of the catch-all's report: tests fail on any output that holds them.
BUG = "this is a bug: please report it with the file attached"
JOBS_HELP = (
    "Processes that read record files (default: one per available CPU, for more than 500 "
    "files; 1: this process alone)."
)


class ReconcilerGroup(click.Group):
    """Maps every failure to one paragraph on stderr and exit 1 (2 is kept for "changes").
    Everything the command prints passes through redact: no secret of the run is shown."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = redact.RedactingStream(stdout)
        sys.stderr = redact.RedactingStream(stderr)
        try:
            return self._main(*args, **kwargs)
        finally:
            sys.stdout, sys.stderr = stdout, stderr

    def invoke(self, ctx: click.Context) -> Any:
        result = super().invoke(ctx)
        # The command returned: what it read makes the answer the entry point may keep.
        kept.completed(ctx.obj.get("workspace") if isinstance(ctx.obj, dict) else None)
        return result

    def _main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except LoadError as exc:
            click.echo(render_problems(exc.problems), err=True, nl=False)
            code = 1
        except ReconcilerError as exc:
            click.echo(f"Error: {exc}", err=True)
            code = 1
        except click.exceptions.Abort as exc:
            # click raises Abort for Ctrl-C or the end of input at a prompt, which comes before
            # anything is sent (an apply under way stops on its own, see cli/apply.py).
            if isinstance(exc.__context__, KeyboardInterrupt):
                click.echo("Interrupted: nothing was sent.", err=True)
                code = 130
            else:
                click.echo("Aborted: nothing was sent.", err=True)
                code = 1
        except click.ClickException as exc:
            exc.show()
            code = 1
        except OSError as exc:
            # A file the user named cannot be read or written: their problem to fix, not a bug.
            click.echo(f"Error: {exc.strerror or exc}: {exc.filename or ''}", err=True)
            code = 1
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            code = 130
        except Exception as exc:
            # The last line of defence: what slipped through every branch above is a bug, and
            # is reported as one, in one paragraph, never as a traceback.
            argv = kwargs.get("args", args[0] if args else None)
            click.echo(bug_report(exc, sys.argv[1:] if argv is None else list(argv)), err=True)
            code = 1
        sys.exit(code if isinstance(code, int) else 0)


def bug_report(exc: BaseException, argv: list[str]) -> str:
    """The one paragraph for an exception that no branch expected (the traceback goes to the
    debug log, shown with --verbose)."""
    logger.debug("unexpected error", exc_info=exc)
    command = " ".join(["reconciler", *(cut(str(a), limit=60) for a in argv)])
    reason = cut(f"{type(exc).__name__}: {exc}".rstrip(": "), limit=200)
    return (
        f"Error: `{command}` failed unexpectedly ({reason}): {BUG}, with the command and its "
        "output (--verbose shows the details)."
    )


def common(func: F) -> F:
    """`--env` and `--repo` after the subcommand as well as before it."""

    @click.option("--env", "env_name", default=None, help="Environment (default: sandbox).")
    @click.option(
        "--repo",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Repository (default: the current directory).",
    )
    @click.option(
        "--no-cache", is_flag=True, help="Read every record file again (no .reconciler/cache)."
    )
    @click.option("--jobs", type=click.IntRange(min=1), default=None, help=JOBS_HELP)
    @click.pass_context
    @functools.wraps(func)
    def wrapper(
        ctx: click.Context,
        env_name: str | None,
        repo: Path | None,
        no_cache: bool,
        jobs: int | None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        parent = ctx.find_object(dict)
        shared = parent if parent is not None else {}
        workspace = Workspace(
            repo=(repo or shared.get("repo") or Path.cwd()).resolve(),
            env_name=env_name or shared.get("env") or os.environ.get("REDOX_ENV") or SANDBOX,
            cache=not (no_cache or shared.get("no_cache")),
            jobs=jobs or shared.get("jobs"),
        )
        if parent is not None:
            parent["workspace"] = workspace  # what the command read, for its kept answer
        return ctx.invoke(func, workspace, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def environ() -> dict[str, str]:
    """The process environment, which only the CLI reads (credentials, REDOX_* settings)."""
    return dict(os.environ)
