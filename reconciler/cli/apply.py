"""apply: carry out a plan against Redox with the environment locked.

Interruption (SPEC 2): during the apply the first SIGINT or SIGTERM stops it (no new call
starts, the calls in flight finish within api.timeout, the ledger is written and the summary
says what was done; exit 130) and a second one exits at once. At the confirmation prompt
Ctrl-C exits 130 at once: nothing was sent, and the lock is released on the way out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any

import click

from reconciler import reconcile
from reconciler.cli.base import color, common, environ
from reconciler.cli.notifying import mask, notify, notify_apply
from reconciler.cli.progress import ApplyProgress
from reconciler.errors import PlanChanged, PlanError, PolicyRefused
from reconciler.git.reader import head_commit
from reconciler.reconcile import Applied
from reconciler.reconcile.audit import SignOff
from reconciler.reconcile.session import session
from reconciler.reconcile.workspace import Workspace
from reconciler.render import policy_notes, render_applied, render_text

INTERRUPTED = 130  # 128 + SIGINT, as shells report a run that Ctrl-C ended


@click.command()
@click.argument(
    "planfile", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option("--yes", is_flag=True, help="Do not ask; required off a terminal and for protected.")
@click.option("--force", is_flag=True, help="Allow more deactivations than the safety limit.")
@click.option("--refresh", is_flag=True, help="Plan against what the directory really holds.")
@click.option("--target", "targets", multiple=True, metavar="OID", help="Apply only these.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None, help="Calls in flight.")
@click.option(
    "--expect-digest",
    metavar="sha256:HEX",
    callback=lambda _ctx, _param, value: _digest_option(value),
    help="Refuse, sending nothing, unless the plan has this digest (the reviewed plan's).",
)
@click.option(
    "--override-policy",
    "overrides",
    multiple=True,
    metavar="NAME",
    help="Let this soft policy's violations through (recorded in the audit trail).",
)
@click.option(
    "--adopt-existing",
    is_flag=True,
    help="A create that finds the record already in the directory overwrites it with the file.",
)
@click.option("--no-verify", is_flag=True, help="Do not read back what changed (verify.enabled).")
@common
def apply(
    ws: Workspace,
    planfile: Path | None,
    yes: bool,
    force: bool,
    refresh: bool,
    targets: tuple[str, ...],
    concurrency: int | None,
    expect_digest: str | None,
    overrides: tuple[str, ...],
    adopt_existing: bool,
    no_verify: bool,
) -> int:
    """Apply a fresh plan, or exactly a saved one, to the environment."""
    saved = reconcile.read_saved_plan(planfile, ws) if planfile else None
    if not yes and (ws.environment.protected or not sys.stdin.isatty()):
        why = (
            "it is protected" if ws.environment.protected else "there is no terminal to confirm on"
        )
        raise PlanError(
            f"apply to {ws.env_name} needs --yes because {why}. Review the plan first "
            f"(`reconciler plan --env {ws.env_name}`)."
        )
    workers = concurrency or ws.settings.file.api.concurrency
    progress = ApplyProgress(interactive=sys.stderr.isatty())
    options = {
        "saved": saved,
        "refresh": refresh,
        "targets": targets,
        "force": force,
        "concurrency": workers,
        "expect_digest": expect_digest,
        "overrides": overrides,
        "adopt_existing": adopt_existing,
        "verify": False if no_verify else None,
    }
    mask(ws)
    try:
        applied = asyncio.run(
            _run(ws, progress, confirm=not yes, show=saved is None or not yes, **options)
        )
    except (PlanChanged, PolicyRefused) as exc:
        notify(ws, "apply.refused", {}, detail=str(exc))
        raise
    progress.finish()
    for line in policy_notes(applied.policies, applied.policy_overrides):
        click.echo(line, err=True)
    notify_apply(ws, applied.status, applied.result.outcomes, unverified=_unverified(applied))
    click.echo(render_applied(applied), nl=False)
    if applied.status == "interrupted":
        return INTERRUPTED
    return 0 if applied.ok else 1


async def _run(
    ws: Workspace, progress: ApplyProgress, *, confirm: bool, show: bool, **options: Any
) -> Applied:
    """The apply, under the environment's lock, with Ctrl-C and SIGTERM stopping it and the
    person reviewing the plan (`show`: print it; `confirm`: ask for yes)."""
    stop = asyncio.Event()
    grace = ws.settings.file.api.timeout

    def stopping(name: str) -> None:
        progress.note(
            f"{name}: stopping. No new call starts; the calls in flight finish (at most "
            f"{grace:g}s), then the ledger is written. Press Ctrl-C again to exit at once."
        )

    signals = _Signals(asyncio.get_running_loop(), stop, on_first=stopping)

    def review(plan: reconcile.Plan) -> bool:
        if show:
            click.echo(render_text(plan, color=color()), nl=False)
        if confirm:
            # Ctrl-C here raises KeyboardInterrupt (click.Abort): nothing was sent yet.
            with signals.suspended():
                answer = click.prompt(
                    f"\nApply these changes to {ws.env_name}? Only 'yes' is accepted",
                    default="",
                    show_default=False,
                )
            if answer.strip() != "yes":
                return False
        progress.start(len(plan.changes))
        return True

    env = environ()
    with signals:
        async with session(ws, env, concurrency=options["concurrency"], lock="apply") as api:
            return await reconcile.apply(
                ws,
                api,
                review=review,
                progress=progress,
                commit=head_commit(ws.repo),
                stop=stop,
                sign_off=SignOff.from_environ(env),
                **options,
            )


def _unverified(applied: Applied) -> int:
    """The changes the directory did not show when read back, or was not read back for."""
    verification = applied.result.verification
    if verification is None:
        return 0
    return len(verification.unverified) + verification.left


def _digest_option(value: str | None) -> str | None:
    if value is not None and not reconcile.DIGEST_PATTERN.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a plan digest: write sha256: and 64 lowercase hex digits, as "
            "`reconciler plan` prints it"
        )
    return value


class _Signals:
    """SIGINT and SIGTERM while an apply runs: the first sets `stop`, a second exits at once.
    Handlers go through the event loop where it can (POSIX), through signal.signal where it
    cannot (Windows); either way the stop is set on the loop's thread."""

    NAMES = {signal.SIGINT: "Interrupted (Ctrl-C)", signal.SIGTERM: "Terminated (SIGTERM)"}

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        stop: asyncio.Event,
        *,
        on_first: Callable[[str], None],
    ) -> None:
        self._loop = loop
        self._stop = stop
        self._on_first = on_first
        self._via_loop: list[signal.Signals] = []
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _Signals:
        for signum in self.NAMES:
            try:
                self._loop.add_signal_handler(signum, self._received, signum)
                self._via_loop.append(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                # Not the main thread (ValueError): the default behaviour stays.
                with suppress(ValueError):
                    self._previous[signum] = signal.signal(signum, self._from_signal_module)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum in self._via_loop:
            self._loop.remove_signal_handler(signum)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._via_loop, self._previous = [], {}

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """While a prompt waits: Ctrl-C and SIGTERM raise KeyboardInterrupt in it at once."""
        self.__exit__()
        previous: dict[signal.Signals, Any] = {}
        for signum in self.NAMES:
            with suppress(ValueError):
                previous[signum] = signal.signal(signum, _raise_keyboard_interrupt)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.__enter__()

    def _from_signal_module(self, signum: int, frame: FrameType | None) -> None:
        self._loop.call_soon_threadsafe(self._received, signal.Signals(signum))

    def _received(self, signum: signal.Signals) -> None:
        if self._stop.is_set():
            os.write(
                sys.stderr.fileno(),
                b"\nInterrupted again: exiting at once. Calls that were in flight are left as "
                b"intents in the ledger; the next apply settles them.\n",
            )
            os._exit(INTERRUPTED)
        self._stop.set()
        self._on_first(self.NAMES[signum])


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
