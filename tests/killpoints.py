"""Kill `esc-sync` at a chosen step inside a page transaction (`page_writes`), for real.

Run instead of `python -m esc_sync`:

    python tests/killpoints.py SITE/STEP/N  run --config config.toml --once

The process SIGKILLs itself the N-th time STEP is passed inside a page transaction that SITE
opened (SITE is the name of the function that called `page_writes`: `_process_page`,
`_prefetch_comments`, `_settle`, `run` (a bulk batch's intents), `_mark`, `_updates`,
`_replies`, `_tasks`). STEP is

- a state write (`observe`, `set_due`, `record_intent`, `record_done`, ...): just after it
  returned, so some of the transaction's rows are written and the rest are not;
- `commit`: after the body ran, just before the store commits (on PostgreSQL, before the
  fence too);
- `fence` (PostgreSQL): after the lease fence at the end of the transaction, just before COMMIT.

Counting is per process, over every transaction of SITE. Nothing in `src/` knows about this:
the hooks wrap the state stores' methods in this process only. With `-` as the spec the
process runs unhooked but still logs, so a test can count the steps of a clean run.

Every step passed inside a page transaction is appended to `ESC_SYNC_TEST_KILLPOINT_LOG` when
that variable names a file (`SITE/STEP` a line): tests use it to choose N, and to check that a
kill landed where they meant it to.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

WRITES = (
    "observe",
    "set_due",
    "record_intent",
    "record_done",
    "forget_intents",
    "forget_keys",
    "enter_tier",
    "update_entry",
    "set_surge_hit",
    "dead_letter",
    "set_bookmark",
)
LOG_VARIABLE = "ESC_SYNC_TEST_KILLPOINT_LOG"


class KillPoint:
    """Where to die (`site`, `step`, `nth`), and the page transactions open now (the worker
    writes its state from one thread)."""

    def __init__(self, spec: str) -> None:
        if spec == "-":
            self.site, self.step, self.nth = "", "", 0
        else:
            self.site, self.step, nth = spec.split("/")
            self.nth = int(nth)
        self.passed: Counter[tuple[str, str]] = Counter()
        self.open: list[str] = []  # the sites of the open page transactions, outermost first
        self.closing = False  # the outermost one's body is done: its store commits it now
        path = os.environ.get(LOG_VARIABLE)
        self.log = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def pass_step(self, step: str) -> None:
        """A step inside the outermost open page transaction; die there if it is the one."""
        if not self.open:
            return
        site = self.open[0]
        self.passed[site, step] += 1
        if self.log is not None:
            self.log.write(f"{site}/{step}\n")
            self.log.flush()
        if (site, step) == (self.site, self.step) and self.passed[site, step] == self.nth:
            os.kill(os.getpid(), signal.SIGKILL)


def install(point: KillPoint) -> None:
    """Wrap `page_writes`, the state writes and the fence of both stores."""
    from esc_sync.state.postgres import PgStore
    from esc_sync.state.sqlite import Store

    for cls in (Store, PgStore):
        _wrap_page_writes(cls, point)
        for name in WRITES:
            _wrap_write(cls, name, point)
    original_fence = PgStore.fence

    def fence(self: Any, conn: Any, connector: str) -> None:
        original_fence(self, conn, connector)
        if point.closing:  # the page transaction's own fence, not a lease check inside it
            point.pass_step("fence")

    PgStore.fence = fence  # type: ignore[method-assign]


def _wrap_page_writes(cls: type, point: KillPoint) -> None:
    original: Callable[..., Any] = cls.page_writes  # type: ignore[attr-defined]

    def page_writes(self: Any, connector: str) -> Any:
        return _tracked(original(self, connector), sys._getframe(1).f_code.co_name, point)

    cls.page_writes = page_writes  # type: ignore[attr-defined]


@contextmanager
def _tracked(inner: Any, site: str, point: KillPoint) -> Iterator[None]:
    point.open.append(site)
    try:
        with inner:
            yield
            if len(point.open) == 1:  # the outermost: the store commits next
                point.pass_step("commit")
                point.closing = True
    finally:
        point.closing = False
        point.open.pop()


def _wrap_write(cls: type, name: str, point: KillPoint) -> None:
    original: Callable[..., Any] = getattr(cls, name)

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        point.pass_step(name)
        return result

    write.__name__ = name
    setattr(cls, name, write)


def main() -> None:
    """Install the kill point, then run the command line as `python -m esc_sync` would."""
    spec, *argv = sys.argv[1:]
    install(KillPoint(spec))
    sys.argv = ["esc-sync", *argv]
    runpy.run_module("esc_sync", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
