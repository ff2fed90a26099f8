"""Kubernetes "restricted" Pod Security Standard, checked on plain manifest dicts.

Mirrors the checks Pod Security Admission runs at the `restricted` level (baseline + restricted
controls, https://kubernetes.io/docs/concepts/security/pod-security-standards/), plus this
project's own rule that every container sets CPU and memory requests and limits. Works on any
object that carries a pod template (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
CronJob), so chart, k8s/ and DAG tests can share it:

    from tests.helpers.pss import assert_restricted
    assert_restricted(rendered_deployment)        # raises AssertionError listing every violation
    restricted_violations(pod_spec_dict)          # or get the list yourself
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Volume types the restricted profile allows (everything else, hostPath first, is rejected).
ALLOWED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# Keys of a Volume that are not its source type.
_VOLUME_META_KEYS = frozenset({"name"})
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
REQUIRED_RESOURCES = ("cpu", "memory")

_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
WORKLOAD_KINDS = frozenset(_TEMPLATE_PATHS)


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod (metadata + spec) an object runs, or None if its kind runs no pods."""
    path = _TEMPLATE_PATHS.get(obj.get("kind", ""))
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = (node or {}).get(key)
    return node or {}


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


def restricted_violations(pod: dict[str, Any], *, require_resources: bool = True) -> list[str]:
    """Every way a pod (a dict with `spec`, optionally `metadata`) breaks the restricted PSS.

    `pod` may also be a bare PodSpec. Returns human-readable strings; empty means compliant.
    """
    spec = pod if "containers" in pod else (pod.get("spec") or {})
    metadata = {} if "containers" in pod else (pod.get("metadata") or {})
    problems: list[str] = []
    psc = spec.get("securityContext") or {}

    # --- baseline: host namespaces, hostPath, host ports, privileged, sysctls, AppArmor/SELinux
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"spec.{field} must be false")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - _VOLUME_META_KEYS
        bad = kinds - ALLOWED_VOLUME_TYPES
        if bad:
            problems.append(f"volume {volume.get('name')!r} uses a forbidden type {sorted(bad)}")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')!r} is not in the safe set")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("securityContext.windowsOptions.hostProcess must be false")
    problems += _selinux_problems("spec.securityContext", psc)
    problems += _apparmor_problems("spec.securityContext", psc)
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            problems.append(f"annotation {key}={value} must be runtime/default or localhost/*")

    # --- restricted: pod-level defaults the containers inherit
    pod_non_root = psc.get("runAsNonRoot")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if psc.get("runAsUser") == 0:
        problems.append("spec.securityContext.runAsUser must not be 0")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        problems.append(f"spec.securityContext.seccompProfile.type {pod_seccomp} not allowed")

    for where, container in _containers(spec):
        csc = container.get("securityContext") or {}
        if csc.get("privileged"):
            problems.append(f"{where}: privileged must be false")
        if csc.get("procMount") not in (None, "Default"):
            problems.append(f"{where}: procMount must be Default")
        if (csc.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{where}: windowsOptions.hostProcess must be false")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort {port['hostPort']} is forbidden")
        problems += _selinux_problems(where, csc)
        problems += _apparmor_problems(where, csc)
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: securityContext.allowPrivilegeEscalation must be false")
        non_root = csc.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            problems.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if csc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser must not be 0")
        seccomp = (csc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ALLOWED_SECCOMP:
            problems.append(
                f"{where}: seccompProfile.type must be RuntimeDefault or Localhost, got {seccomp}"
            )
        caps = csc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{where}: capabilities.drop must include ALL")
        added = set(caps.get("add") or []) - ALLOWED_ADDED_CAPABILITIES
        if added:
            problems.append(f"{where}: capabilities.add {sorted(added)} not allowed (only NET_BIND_SERVICE)")
        if require_resources:
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                missing = [r for r in REQUIRED_RESOURCES if r not in (resources.get(section) or {})]
                if missing:
                    problems.append(f"{where}: resources.{section} missing {missing}")
    return problems


def _selinux_problems(where: str, sc: dict[str, Any]) -> list[str]:
    se = sc.get("seLinuxOptions") or {}
    problems = []
    if se.get("type", "") not in ALLOWED_SELINUX_TYPES:
        problems.append(f"{where}: seLinuxOptions.type {se.get('type')!r} not allowed")
    for field in ("user", "role"):
        if se.get(field):
            problems.append(f"{where}: seLinuxOptions.{field} must be unset")
    return problems


def _apparmor_problems(where: str, sc: dict[str, Any]) -> list[str]:
    profile = (sc.get("appArmorProfile") or {}).get("type")
    if profile is not None and profile not in ALLOWED_APPARMOR:
        return [f"{where}: appArmorProfile.type {profile} not allowed"]
    return []


def object_violations(obj: dict[str, Any], *, require_resources: bool = True) -> list[str]:
    """Violations of the pod an object runs, prefixed with kind/name; [] for non-workloads."""
    pod = pod_template(obj)
    if pod is None:
        return []
    name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    return [f"{name}: {p}" for p in restricted_violations(pod, require_resources=require_resources)]


def assert_restricted(obj: dict[str, Any], *, require_resources: bool = True) -> None:
    """Fail with every violation listed if the object's pod breaks the restricted standard."""
    problems = object_violations(obj, require_resources=require_resources)
    assert not problems, "restricted Pod Security Standard violations:\n  " + "\n  ".join(problems)
