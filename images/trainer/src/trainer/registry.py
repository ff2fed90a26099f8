"""The registered model's alias: who holds it, its ledger, and moving it under a lock.

The ledger is the alias history in one place: one registered-model tag per move,
`ledger.<alias>.<seq>` = JSON {seq, at, action, version, previous, run_id, rule, reason, by, ...},
seq zero-padded so the tags sort in order. Registry tags hold up to 100,000 characters.

MLflow has no compare-and-set on an alias, so the trainer serialises its own moves with a lease
held in the tag `lock.<alias>` (Fischer's timed mutual exclusion over a last-writer-wins store):
read the tag; if it is free or its lease expired, write our owner id; wait DELAY; read again, and
we hold the lock only if the tag is still ours. Two writers cannot both keep it as long as each
one's write lands within DELAY of its read, and each attempt checks that from its own clock (a
slower round trip retries). Whoever holds the lock re-reads the alias before moving it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline_common.errors import StageError

log = logging.getLogger(__name__)
LEDGER_PREFIX = "ledger."
LOCK_PREFIX = "lock."
# Version tags written when `trainer rollback` moves the alias away from a version.
ROLLED_BACK_TAG = "promote.rolled_back"
DELAY = 0.5  # seconds between writing the lock and checking it is still ours
LEASE = 120.0  # seconds a lock is honoured; a crashed holder frees the alias after this
WAIT = 300.0  # seconds a writer waits for a held lock before giving up with one clear line


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class State:
    """What the registry says about a model's alias at one moment."""

    exists: bool
    champion: str | None  # the version holding the alias
    ledger: list[dict[str, Any]]

    @property
    def head(self) -> dict[str, Any] | None:
        return self.ledger[-1] if self.ledger else None

    @property
    def head_seq(self) -> int:
        return int(self.head["seq"]) if self.head else 0


def _ledger(tags: dict[str, str], alias: str) -> list[dict[str, Any]]:
    prefix = f"{LEDGER_PREFIX}{alias}."
    entries = []
    for key in sorted(k for k in tags if k.startswith(prefix)):
        try:
            entry = json.loads(tags[key])
        except ValueError:
            log.warning("ledger tag %s is not JSON; ignoring it", key)
            continue
        if isinstance(entry, dict) and "seq" in entry:
            entries.append(entry)
    return sorted(entries, key=lambda e: int(e["seq"]))


def read(client: Any, name: str, alias: str) -> State:
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return State(False, None, [])
        raise
    return State(True, model.aliases.get(alias), _ledger(dict(model.tags), alias))


def ensure_model(client: Any, name: str, description: str) -> None:
    """Create the registered model if missing (a concurrent creator wins the race harmlessly)."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description=description)
        log.info("created registered model %s", name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lock_holder(client: Any, name: str, key: str) -> dict[str, Any] | None:
    raw = client.get_registered_model(name).tags.get(key)
    if not raw:
        return None
    try:
        held = json.loads(raw)
    except ValueError:
        return None
    return held if isinstance(held, dict) else None


# What the tracking store's database says when two writers insert the same tag at once (SQLite,
# PostgreSQL, MySQL): MLflow upserts a tag by read-then-insert, so the second insert fails.
_CONCURRENT_INSERT = ("UNIQUE constraint", "duplicate key", "Duplicate entry", "IntegrityError")


def _write_claim(client: Any, name: str, key: str, claim: dict[str, Any]) -> bool:
    """Write our claim on the lock tag; False when a rival's first write of it collided with ours."""
    from mlflow.exceptions import MlflowException

    try:
        client.set_registered_model_tag(name, key, json.dumps(claim))
    except MlflowException as exc:
        if any(marker in str(exc) for marker in _CONCURRENT_INSERT):
            return False
        raise
    return True


@contextlib.contextmanager
def alias_lock(client: Any, name: str, alias: str, delay: float = DELAY, wait: float = WAIT) -> Iterator[str]:
    """Hold the alias of registered model `name` (which must exist) for a short critical section."""
    key = f"{LOCK_PREFIX}{alias}"
    me = owner_id()
    deadline = time.monotonic() + wait
    while True:
        t0 = time.monotonic()
        held = _lock_holder(client, name, key)
        if held and held.get("owner") != me and float(held.get("expires", 0)) > time.time():
            if time.monotonic() > deadline:
                raise StageError(
                    f"the {alias} alias of {name} stayed locked by {held.get('owner')} for {wait:.0f} s",
                    "another promote or rollback is running; re-run when it ends (a crashed one's "
                    f"lock expires {LEASE:.0f} s after it was taken)",
                )
            time.sleep(random.uniform(0.1, 0.5))
            continue
        claim = {"owner": me, "expires": time.time() + LEASE, "at": now_iso()}
        if not _write_claim(client, name, key, claim):
            log.info("a rival wrote the %s lock of %s at the same moment; waiting", alias, name)
            time.sleep(random.uniform(0.1, 0.5))
            continue
        if time.monotonic() - t0 >= delay:
            # Our write may have landed after a rival read the tag as free: start over.
            log.info("lock write of %s took >= %.1f s; retrying", key, delay)
            continue
        time.sleep(delay)
        held = _lock_holder(client, name, key)
        if held and held.get("owner") == me:
            break
        log.info("lost the %s lock of %s to %s; waiting", alias, name, held and held.get("owner"))
    try:
        yield me
    finally:
        with contextlib.suppress(Exception):  # an expired lock is freed by its lease anyway
            held = _lock_holder(client, name, key)
            if held and held.get("owner") == me:
                client.delete_registered_model_tag(name, key)


def append(client: Any, name: str, alias: str, state: State, entry: dict[str, Any]) -> dict[str, Any]:
    """Add one entry after the ledger head of `state` (call under the alias lock)."""
    seq = state.head_seq + 1
    full = {"seq": seq, "at": now_iso(), **entry}
    client.set_registered_model_tag(
        name, f"{LEDGER_PREFIX}{alias}.{seq:06d}", json.dumps(full, sort_keys=True)
    )
    return full


def move(
    client: Any, name: str, alias: str, version: str, state: State, entry: dict[str, Any]
) -> dict[str, Any]:
    """Point the alias at `version` and record why (call under the alias lock)."""
    client.set_registered_model_alias(name, alias, str(version))
    return append(
        client, name, alias, state, {"version": int(version), "previous": _int(state.champion), **entry}
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def stack(entries: list[dict[str, Any]]) -> list[int]:
    """The champions the ledger records, oldest first, with rolled-back ones popped off.

    A promotion pushes its version; a rollback pops back down to the version it restored, or,
    when that version is not on the stack (a rollback forward with --to-version), pushes it."""
    held: list[int] = []
    for entry in entries:
        version = int(entry["version"])
        if entry.get("action") == "rollback" and version in held:
            while held[-1] != version:
                held.pop()
        elif not held or held[-1] != version:
            held.append(version)
    return held
