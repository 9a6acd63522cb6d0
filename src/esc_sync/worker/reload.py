"""Policy reload without downtime: on SIGHUP or when a policy file changes, between cycles.

SIGHUP ──► request() (sets a flag; nothing else happens inside the signal handler)
daemon loop, between cycles ──► poll()
    ├─ flag set, or the policy files' mtimes/sizes changed ──► reload()
    │     ├─ valid   ──► apply(new policy): worker.policy is swapped, next cycle uses it
    │     └─ invalid ──► every problem line logged; the last good policy keeps running
    └─ nothing changed ──► nothing (one stat() per policy file: cheap)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from esc_sync.errors import ConfigError
from esc_sync.policy import Policy

log = structlog.get_logger("esc_sync.reload")

Fingerprint = dict[str, tuple[int, int]]


def policy_files(rules_path: Path) -> list[Path]:
    """Every file the policy is made of: the TOML file(s) and the templates folder's files."""
    path = Path(rules_path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.toml") if p.is_file())
        templates = path / "templates"
    else:
        files = [path]
        templates = path.parent / "templates"
    if templates.is_dir():
        files += sorted(p for p in templates.rglob("*") if p.is_file())
    return files


def fingerprint(rules_path: Path) -> Fingerprint:
    """(mtime_ns, size) of every policy file, keyed by path; files added or removed show too."""
    result: Fingerprint = {}
    for file in policy_files(rules_path):
        try:
            stat = file.stat()
        except OSError:
            continue  # removed between listing and stat: the next poll sees it gone
        result[str(file)] = (stat.st_mtime_ns, stat.st_size)
    return result


class PolicyReloader:
    """Reloads the policy on request or on change, keeping the last good one on error."""

    def __init__(
        self,
        rules_path: Path,
        load: Callable[[], Policy],
        apply: Callable[[Policy], None],
        *,
        watch: bool = True,
    ) -> None:
        self.rules_path = Path(rules_path)
        self._load = load
        self._apply = apply
        self._watch = watch
        self._requested = threading.Event()
        self._seen = fingerprint(self.rules_path)
        self.reloads = 0
        self.rejected = 0

    def request(self, signum: int | None = None, frame: object = None) -> None:
        """Ask for a reload at the next poll (safe to call from a signal handler)."""
        self._requested.set()

    def poll(self) -> bool | None:
        """Reload when asked to or when a policy file changed; None when nothing to do."""
        requested = self._requested.is_set()
        current = fingerprint(self.rules_path) if self._watch or requested else self._seen
        if not requested and current == self._seen:
            return None
        self._requested.clear()
        self._seen = current
        return self.reload("signal" if requested else "file change")

    def reload(self, reason: str = "request") -> bool:
        """Load and validate the policy; swap it in when valid, else log why and keep the old."""
        try:
            policy = self._load()
        except ConfigError as exc:
            self.rejected += 1
            log.error(
                "policy reload rejected; keeping the last good policy",
                reason=reason,
                problems=len(exc.problems),
            )
            for line in exc.problems:
                log.error("policy problem", problem=line)
            return False
        self._apply(policy)
        self.reloads += 1
        log.info(
            "policy reloaded", reason=reason, rules=len(policy.rules), files=len(policy.sources)
        )
        return True
