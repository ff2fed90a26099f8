"""`trainer ledger` shows who held the alias, when and why; `trainer rollback` moves it back.

Both read the ledger that promote and rollback write (trainer/registry.py). A rollback is a
decision like a promotion: it takes the alias lock, appends a ledger entry (action `rollback`),
tags the restored version with the decision and the version it replaced with `promote.rolled_back`
(promote then refuses that version's run unless --force).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pipeline_common.errors import StageError

from trainer import promote, registry, tracking

log = logging.getLogger(__name__)
MAX_ROUNDS = 3
# return.json is an XCom (64 KiB at most): the newest entries only; the table shows them all.
RESULT_ENTRIES = 50


def _state(client: Any, name: str, alias: str) -> registry.State:
    state = registry.read(client, name, alias)
    if not state.exists:
        raise StageError(
            f"registered model {name!r} does not exist",
            "check --model-name (promote creates it on its first win)",
        )
    return state


def table(state: registry.State, alias: str) -> str:
    header = (
        f"{'#':>4}  {'at (UTC)':<25} {'action':<8} {'version':>7} {'previous':>8}  {'rule':<20} "
        f"{'by':<30} reason"
    )
    lines = [header, "-" * len(header)]
    for e in state.ledger:
        by = e.get("by") or {}
        who = "/".join(str(by[k]) for k in ("dag_id", "run_id", "task_id") if by.get(k)) or str(
            by.get("user", "?")
        )
        previous = "-" if e.get("previous") is None else f"v{e['previous']}"
        lines.append(
            f"{e['seq']:>4}  {e.get('at', '?'):<25} {e.get('action', '?'):<8} {'v' + str(e['version']):>7} "
            f"{previous:>8}  {e.get('rule', ''):<20} {who[:30]:<30} {e.get('reason', '')}"
        )
    if not state.ledger:
        lines.append("(no entries: the alias was never moved by trainer promote or rollback)")
    head = state.head
    now = state.champion
    lines.append("")
    if now is None:
        lines.append(f"@{alias}: held by no version")
    elif head is None or str(head["version"]) != str(now):
        lines.append(
            f"@{alias}: v{now} (moved outside the trainer: the ledger's last entry names another version)"
        )
    else:
        lines.append(f"@{alias}: v{now} since ledger #{head['seq']}")
    return "\n".join(lines)


def show(model_name: str, alias: str) -> dict[str, Any]:
    promote.check_names(model_name, alias)
    client = tracking.connect()
    with tracking.bounded("ledger"):
        state = _state(client, model_name, alias)
    print(table(state, alias), file=sys.stdout, flush=True)
    return {
        "model_name": model_name,
        "alias": alias,
        "champion_version": None if state.champion is None else int(state.champion),
        "entries": state.ledger[-RESULT_ENTRIES:],
        "count": len(state.ledger),
    }


def _target(state: registry.State, alias: str, to_version: int | None) -> int:
    if to_version is not None:
        return to_version
    held = registry.stack(state.ledger)
    current = int(state.champion) if state.champion is not None else None
    if held and held[-1] == current:
        held = held[:-1]
    if not held:
        raise StageError(
            f"the ledger records no {alias} before v{current}",
            "pass --to-version N (see `python -m trainer ledger --model-name NAME`)",
        )
    return held[-1]


def rollback(model_name: str, alias: str, to_version: int | None, reason: str | None) -> dict[str, Any]:
    promote.check_names(model_name, alias)
    if to_version is not None and to_version < 1:
        raise StageError(f"--to-version {to_version} is not a version number", "pass a version, e.g. 3")
    client = tracking.connect()
    with tracking.bounded("rollback"):
        return _rollback(client, model_name, alias, to_version, reason)


def _rollback(
    client: Any, name: str, alias: str, to_version: int | None, reason: str | None
) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    who = promote.trigger()
    state = _state(client, name, alias)
    head = state.head
    if (
        who.get("dag_id")
        and head
        and head.get("action") == "rollback"
        and head.get("by") == who
        and str(head["version"]) == str(state.champion)
    ):
        log.info("this task already rolled %s back (ledger #%s); nothing to do", alias, head["seq"])
        return _result(name, alias, head, who, moved=False)
    for _ in range(MAX_ROUNDS):
        if state.champion is None:
            raise StageError(f"{name} has no {alias} to roll back", "promote a model first")
        current = int(state.champion)
        target = _target(state, alias, to_version)
        if target == current:
            log.info("v%d already holds %s; nothing to move", target, alias)
            return _result(name, alias, None, who, moved=False, version=current)
        try:
            version = client.get_model_version(name, str(target))
        except MlflowException as exc:
            raise StageError(
                f"{name} has no version {target}", "pick a version from `python -m trainer ledger`"
            ) from exc
        text = reason or f"rolled back from v{current} to v{target}"
        with registry.alias_lock(client, name, alias):
            now = registry.read(client, name, alias)
            if now.champion != state.champion:
                state = now
                continue
            entry = registry.move(
                client,
                name,
                alias,
                str(target),
                now,
                {
                    "action": "rollback",
                    "run_id": version.run_id,
                    "rule": "rollback",
                    "reason": text,
                    "by": who,
                },
            )
        break
    else:
        raise StageError(f"the {alias} of {name} kept moving during the rollback", "re-run the rollback")
    note = f"ledger #{entry['seq']} at {entry['at']}: {text}"
    client.set_model_version_tag(name, str(current), registry.ROLLED_BACK_TAG, note)
    tags = {
        "promote.promoted": "true",
        "promote.rule": "rollback",
        "promote.reason": text,
        "promote.champion_version": str(current),
        "promote.decided_at": entry["at"],
        "promote.triggered_by": "/".join(who.get(k, "") for k in ("dag_id", "run_id", "task_id"))
        if who.get("dag_id")
        else who.get("user", "?"),
        "promote.ledger_seq": str(entry["seq"]),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(target), key, value)
    if version.tags.get(registry.ROLLED_BACK_TAG):
        client.delete_model_version_tag(name, str(target), registry.ROLLED_BACK_TAG)
    log.info("%s: v%d -> v%d (ledger #%d)", alias, current, target, entry["seq"])
    return _result(name, alias, entry, who, moved=True)


def _result(
    name: str,
    alias: str,
    entry: dict[str, Any] | None,
    who: dict[str, str],
    *,
    moved: bool,
    version: int | None = None,
) -> dict[str, Any]:
    return {
        "model_name": name,
        "alias": alias,
        "moved": moved,
        "from_version": entry.get("previous") if entry else version,
        "to_version": entry["version"] if entry else version,
        "rule": "rollback",
        "reason": entry["reason"] if entry else f"v{version} already holds {alias}",
        "trigger": who,
        "ledger_seq": entry["seq"] if entry else None,
        "decided_at": entry["at"] if entry else registry.now_iso(),
    }
