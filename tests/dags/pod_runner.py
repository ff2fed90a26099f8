"""Run a rendered KubernetesPodOperator pod's stage container here, instead of on a cluster.

Swapped in for KubernetesPodOperator.execute (tests only). The pod is built exactly as execute()
builds it (`build_pod_request_obj(context, dry_run=True)`); its base container then runs as a
Docker container of its image (`census-pipeline/<stage>:0.1.0`, built by `make test-dags`), with
the pod's user, read-only root fs, dropped capabilities, CPU/memory limits and a tmpfs /tmp, and
/airflow/xcom mapped to a temp dir. Only when asked for explicitly (DAG_PODS=process) does it run
`.venv/bin/python -m <stage> <args>` with the pod's env instead; a missing image is an error.

After the container exits, the operator's own clean-up runs for real (`post_complete_action` ->
`cleanup` -> `process_pod_deletion`, dags/census_pipeline/pod_lifecycle.py) against a stand-in
API holding the pod in the phase and with the exit code the container produced: a success is
deleted, a failure kept, exit code 2 fails the task without retries. The parsed return.json is
returned, so Airflow pushes it as the task's XCom exactly as the sidecar path would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.dags.dagtools import ROOT, base_container
from tests.dags.fake_k8s import FakeCoreV1Api, attach, pod_with_status

VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
XCOM_MOUNT = "/airflow/xcom"
STAGE_MODULES = {"extractor", "preprocessor", "trainer"}
MODES = ("containers", "process")


def pod_mode() -> str:
    """How the DAG tier runs stage pods: `containers` (default) or `process` (DAG_PODS=process)."""
    mode = os.environ.get("DAG_PODS", "containers") or "containers"
    if mode not in MODES:
        raise ValueError(f"ERROR [dags] DAG_PODS={mode!r} | fix: use one of {', '.join(MODES)}")
    return mode


def missing_images(images: list[str]) -> list[str]:
    return [image for image in images if not docker_image_present(image)]


def stage_of(image: str) -> str:
    """'registry/census-pipeline/trainer:0.1.0' -> 'trainer' (the image's Python module)."""
    name = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    assert name in STAGE_MODULES, f"image {image!r} is not a stage image"
    return name


def docker_image_present(image: str) -> bool:
    if shutil.which("docker") is None:
        return False
    proc = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    return proc.returncode == 0


def _docker_quantity(memory: str) -> str:
    """Kubernetes memory quantity -> docker --memory value ('2Gi' -> '2g', '512Mi' -> '512m')."""
    for suffix, unit in (("Gi", "g"), ("Mi", "m"), ("Ki", "k")):
        if memory.endswith(suffix):
            return memory[: -len(suffix)] + unit
    return memory


@dataclass
class PodRun:
    task_id: str
    mode: str  # "docker" or "process"
    argv: list[str]
    env: dict[str, str]
    rc: int
    seconds: float
    result: dict[str, Any] | None
    log_tail: str
    pod_name: str = ""
    try_number: int = 1
    error: str = ""  # the exception the operator's clean-up raised (its class name)


@dataclass
class PodRunner:
    workdir: Path
    mode: str = field(default_factory=pod_mode)
    api: FakeCoreV1Api = field(default_factory=FakeCoreV1Api)
    runs: list[PodRun] = field(default_factory=list)

    def execute(self, op: Any, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException

        pod = op.build_pod_request_obj(context, dry_run=True)
        base = base_container(pod)
        mounts = {m.mount_path for m in base.volume_mounts or []}
        assert XCOM_MOUNT in mounts, f"{op.task_id}: no {XCOM_MOUNT} mount, the xcom sidecar could not read"
        env = {e.name: e.value for e in base.env or []}
        stage = stage_of(base.image)
        xcom_dir = self.workdir / f"{op.task_id}.try{context['ti'].try_number}" / "xcom"
        xcom_dir.mkdir(parents=True, exist_ok=True)
        xcom_dir.chmod(0o777)  # the container runs as UID 10001
        timeout = op.execution_timeout.total_seconds() if op.execution_timeout else 3600
        if self.mode == "containers":
            if not docker_image_present(base.image):
                raise AssertionError(
                    f"ERROR [dags] image {base.image} is not built | fix: `make test-dags` builds it "
                    "(scripts/build_images.sh extractor preprocessor trainer), or set DAG_PODS=process"
                )
            mode, argv, run_env = "docker", self._docker_argv(pod, base, env, xcom_dir), None
        else:
            mode = "process"
            argv = [str(VENV_PYTHON), "-m", stage, *base.args]
            home = xcom_dir.parent / "home"
            home.mkdir(exist_ok=True)
            run_env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),
                "MPLCONFIGDIR": str(home),
                "PYTHONUNBUFFERED": "1",
                **env,
                "XCOM_DIR": str(xcom_dir),
            }
        op.log.info("running %s pod %s as a %s: %s", op.task_id, pod.metadata.name, mode, " ".join(argv))
        start = time.monotonic()
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=run_env,
            timeout=timeout,
            check=False,
            cwd=xcom_dir.parent,
        )
        log_tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        result_file = xcom_dir / "return.json"
        result = json.loads(result_file.read_text()) if result_file.exists() else None
        seconds = time.monotonic() - start
        run = PodRun(
            op.task_id, mode, argv, env, proc.returncode, seconds, result, log_tail,
            pod.metadata.name, context["ti"].try_number,
        )  # fmt: skip
        self.runs.append(run)
        op.log.info(
            "%s exited %s after %.1f s; last lines:\n%s", op.task_id, proc.returncode, seconds, log_tail
        )
        # The operator's own clean-up, against a stand-in API that holds the pod as it ended.
        phase = "Succeeded" if proc.returncode == 0 else "Failed"
        remote = self.api.add(pod_with_status(pod, phase, exit_code=proc.returncode))
        attach(op, self.api)
        op.pod, op.remote_pod = pod, remote
        try:
            op.post_complete_action(pod=pod, remote_pod=remote, context=context, result=result)
        except Exception as exc:
            run.error = type(exc).__name__
            raise
        if result is None:
            raise AirflowException(f"pod {pod.metadata.name} wrote no {XCOM_MOUNT}/return.json")
        return result

    @staticmethod
    def _docker_argv(pod: Any, base: Any, env: dict[str, str], xcom_dir: Path) -> list[str]:
        psc = pod.spec.security_context
        limits = base.resources.limits
        argv = [
            "docker", "run", "--rm", "--name", pod.metadata.name,
            # the emulator and MLflow listen on the host's loopback
            "--network", "host",
            "--user", f"{psc.run_as_user}:{psc.run_as_group}",
            "--read-only", "--tmpfs", "/tmp:rw,mode=1777",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--cpus", limits["cpu"], "--memory", _docker_quantity(limits["memory"]),
            "-v", f"{xcom_dir}:{XCOM_MOUNT}",
        ]  # fmt: skip
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        return [*argv, base.image, *base.args]
