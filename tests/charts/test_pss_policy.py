"""tests/helpers/pss.py reports each restricted violation (a check that never fails proves nothing)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.pss import assert_restricted, object_violations, restricted_violations


def _compliant_deployment() -> dict[str, Any]:
    container_sc = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ok"},
        "spec": {
            "template": {
                "metadata": {},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [
                        {
                            "name": "init",
                            "image": "x:1",
                            "securityContext": dict(container_sc),
                            "resources": resources,
                        }
                    ],
                    "containers": [
                        {
                            "name": "main",
                            "image": "x:1",
                            "securityContext": copy.deepcopy(container_sc),
                            "resources": copy.deepcopy(resources),
                            "ports": [{"containerPort": 8080}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
                },
            }
        },
    }


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def _main(obj: dict[str, Any]) -> dict[str, Any]:
    return _spec(obj)["containers"][0]


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "hostNetwork": (lambda o: _spec(o).update(hostNetwork=True), "spec.hostNetwork must be false"),
    "hostPID": (lambda o: _spec(o).update(hostPID=True), "spec.hostPID must be false"),
    "hostIPC": (lambda o: _spec(o).update(hostIPC=True), "spec.hostIPC must be false"),
    "hostPath": (
        lambda o: _spec(o)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "forbidden type ['hostPath']",
    ),
    "hostPort": (lambda o: _main(o)["ports"][0].update(hostPort=80), "hostPort 80 is forbidden"),
    "privileged": (lambda o: _main(o)["securityContext"].update(privileged=True), "privileged must be false"),
    "escalation": (
        lambda o: _main(o)["securityContext"].pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation must be false",
    ),
    "root": (lambda o: _spec(o)["securityContext"].pop("runAsNonRoot"), "runAsNonRoot must be true"),
    "container-root": (
        lambda o: _main(o)["securityContext"].update(runAsNonRoot=False),
        "containers[main]: runAsNonRoot",
    ),
    "uid0": (lambda o: _main(o)["securityContext"].update(runAsUser=0), "runAsUser must not be 0"),
    "no-seccomp": (
        lambda o: _spec(o)["securityContext"].pop("seccompProfile"),
        "seccompProfile.type must be",
    ),
    "unconfined": (
        lambda o: _main(o)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "got Unconfined",
    ),
    "no-drop-all": (
        lambda o: _main(o)["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
        "drop must include ALL",
    ),
    "add-cap": (
        lambda o: _main(o)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
        "capabilities.add ['SYS_ADMIN']",
    ),
    "sysctl": (
        lambda o: _spec(o)["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "not in the safe set",
    ),
    "procMount": (
        lambda o: _main(o)["securityContext"].update(procMount="Unmasked"),
        "procMount must be Default",
    ),
    "selinux-user": (
        lambda o: _main(o)["securityContext"].update(seLinuxOptions={"user": "root"}),
        "seLinuxOptions.user",
    ),
    "apparmor": (
        lambda o: _main(o)["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
        "appArmorProfile",
    ),
    "no-limits": (
        lambda o: _main(o)["resources"].pop("limits"),
        "resources.limits missing ['cpu', 'memory']",
    ),
    "init-no-requests": (
        lambda o: _spec(o)["initContainers"][0].pop("resources"),
        "initContainers[init]: resources.requests",
    ),
}


def test_compliant_pod_passes() -> None:
    obj = _compliant_deployment()
    assert object_violations(obj) == []
    assert_restricted(obj)


def test_net_bind_service_is_the_one_capability_allowed() -> None:
    obj = _compliant_deployment()
    _main(obj)["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert object_violations(obj) == []


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_violation_is_reported(mutation: str) -> None:
    obj = _compliant_deployment()
    mutate, expected = MUTATIONS[mutation]
    mutate(obj)
    problems = object_violations(obj)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("Deployment/ok: ") for p in problems)
    with pytest.raises(AssertionError, match="restricted Pod Security Standard"):
        assert_restricted(obj)


def test_works_on_bare_pods_cronjobs_and_pod_specs() -> None:
    spec = _spec(_compliant_deployment())
    assert restricted_violations(spec) == []
    assert object_violations({"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}) == []
    cron = {
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}},
    }
    assert object_violations(cron) == []
    assert object_violations({"kind": "Service", "metadata": {"name": "s"}}) == []
