"""Each image: non-root fixed UID, help from its entrypoint, no compiler, no secret, size in budget."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from tests.containers.conftest import ALL_IMAGES, SIZES_MB, STAGE_IMAGES
from tests.containers.kpo import MLFLOW_UID, STAGE_UID, docker, image_size_mb

BUDGET_MB = {"extractor": 450, "preprocessor": 400, "trainer": 900, "mlflow": None}
UID = {"extractor": STAGE_UID, "preprocessor": STAGE_UID, "trainer": STAGE_UID, "mlflow": MLFLOW_UID}
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "clang++", "tcc", "gfortran", "ld", "as", "make")
# A PEM private key block with key material, not just the marker strings that PEM parsers
# (cryptography, google-auth, GnuTLS) carry as constants.
PRIVATE_KEY = re.compile(
    rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----\r?\n(?:[A-Za-z-]+: [^\n]*\n)*\s*"
    rb"[A-Za-z0-9+/=\r\n]{64,}-----END \1PRIVATE KEY-----"
)
CREDENTIAL_FILES = {
    ".netrc",
    ".git-credentials",
    ".pypirc",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".dockercfg",
    "config.json.docker",
    "application_default_credentials.json",
}


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_runs_as_fixed_non_root_uid(built_images: dict[str, str], name: str) -> None:
    image = built_images[name]
    uid = UID[name]
    assert docker("image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip() == f"{uid}:{uid}"
    out = docker("run", "--rm", "--read-only", "--entrypoint", "id", image).stdout
    assert f"uid={uid}" in out and f"gid={uid}" in out, out


@pytest.mark.parametrize("name", STAGE_IMAGES)
def test_entrypoint_is_the_stage_cli_and_prints_help(built_images: dict[str, str], name: str) -> None:
    image = built_images[name]
    entry = docker("image", "inspect", "-f", "{{json .Config.Entrypoint}}", image).stdout.strip()
    assert entry == f'["python","-m","{name}"]'
    proc = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", image, "--help", check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout.lower() and name in proc.stdout, proc.stdout


def test_mlflow_entrypoint_prints_help(built_images: dict[str, str]) -> None:
    image = built_images["mlflow"]
    assert (
        docker("image", "inspect", "-f", "{{json .Config.Entrypoint}}", image).stdout.strip() == '["mlflow"]'
    )
    proc = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", image, "--version", check=False
    )
    assert proc.returncode == 0 and "3.17.2" in proc.stdout, proc.stdout + proc.stderr
    proc = docker("run", "--rm", "--read-only", "--tmpfs", "/tmp", image, "server", "--help", check=False)
    assert proc.returncode == 0 and "--artifacts-destination" in proc.stdout, proc.stderr


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_contains_no_compiler(built_images: dict[str, str], name: str) -> None:
    found = docker(
        "run", "--rm", "--read-only", "--entrypoint", "sh", built_images[name], "-c",
        f"for c in {' '.join(COMPILERS)}; do command -v \"$c\" || true; done",
    ).stdout.split()  # fmt: skip
    assert found == [], f"compilers/toolchain in the final image: {found}"


@pytest.mark.parametrize("name", STAGE_IMAGES)
def test_stage_code_is_byte_compiled(built_images: dict[str, str], name: str) -> None:
    """The root fs is read-only at run time: .pyc must ship in the image (and start-up is faster)."""
    script = (
        "import importlib.util, pathlib, sys\n"
        f"import {name}, pipeline_common\n"
        f"pkgs = [pathlib.Path({name}.__file__).parent, pathlib.Path(pipeline_common.__file__).parent]\n"
        "missing = [str(p) for d in pkgs for p in d.rglob('*.py')\n"
        "           if not pathlib.Path(importlib.util.cache_from_source(str(p))).is_file()]\n"
        "print('\\n'.join(missing)); sys.exit(1 if missing else 0)\n"
    )
    proc = docker(
        "run", "--rm", "--read-only", "--entrypoint", "python", built_images[name], "-c", script, check=False
    )
    assert proc.returncode == 0, f"modules without .pyc:\n{proc.stdout}{proc.stderr}"


# Key blocks that are public on purpose: GnuTLS (Debian libgnutls30, an apt dependency in every
# Debian-based image) embeds its FIPS 140 self-test keys, published test vectors.
PUBLIC_TEST_KEYS = re.compile(r"usr/lib/[^/]+/libgnutls\.so\.30(\.[0-9]+)*")


def _secrets_in_layer(layer: tarfile.TarFile) -> list[str]:
    hits = []
    for member in layer:
        if not member.isfile():
            continue
        path = PurePosixPath(member.name.removeprefix("./"))
        if path.name in CREDENTIAL_FILES:
            hits.append(f"{path}: credential file")
            continue
        data = layer.extractfile(member).read()  # type: ignore[union-attr]
        if PRIVATE_KEY.search(data) and not PUBLIC_TEST_KEYS.fullmatch(str(path)):
            hits.append(f"{path}: private key")
        elif path.name == "credentials.json" and b"private_key" in data:
            hits.append(f"{path}: service-account key")
    return hits


def scan_image_for_secrets(image: str) -> tuple[int, list[str]]:
    """`docker save IMAGE`, then every file of every layer: (number of layers, findings)."""
    hits: list[str] = []
    layers = 0
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for member in archive:
                if not member.isfile() or member.name.endswith((".json", "VERSION", "repositories")):
                    continue
                blob = archive.extractfile(member)
                assert blob is not None
                head = blob.read(262)
                if head[257:262] != b"ustar":  # not a layer tar (config, manifest, ...)
                    continue
                layers += 1
                with tarfile.open(fileobj=io.BufferedReader(_Prefixed(head, blob)), mode="r|") as layer:
                    hits += [f"layer {member.name[:12]}: {hit}" for hit in _secrets_in_layer(layer)]
    assert proc.returncode == 0, f"docker save {image} failed"
    return layers, hits


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_IMAGES)
def test_layers_hold_no_secret(built_images: dict[str, str], name: str) -> None:
    layers, hits = scan_image_for_secrets(built_images[name])
    assert layers > 0, "no layer found in the docker save archive"
    assert hits == [], "secrets in image layers:\n" + "\n".join(hits)


def test_secret_scan_finds_a_planted_key(docker_engine: None, tmp_path: Path) -> None:
    """The scanner's own check: a throwaway image with a real key and credential files is caught."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "tls.pem").write_bytes(key)
    (tmp_path / ".netrc").write_text("machine example.invalid login x password y\n")
    (tmp_path / "credentials.json").write_text('{"type": "service_account", "private_key": "x"}')
    (tmp_path / "decoy.py").write_text('MARKER = "-----BEGIN RSA PRIVATE KEY-----"\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY . /planted/\n")
    image = "census-pipeline/secret-canary:test"
    docker("build", "-q", "-t", image, str(tmp_path))
    try:
        _, hits = scan_image_for_secrets(image)
    finally:
        docker("rmi", "-f", image, check=False)
    found = sorted(hit.split(": ", 1)[1] for hit in hits)
    assert found == [
        "planted/.netrc: credential file",
        "planted/credentials.json: service-account key",
        "planted/tls.pem: private key",
    ], hits


class _Prefixed(io.RawIOBase):
    """A stream that yields already-read bytes, then the rest of `rest` (non-seekable tar input)."""

    def __init__(self, head: bytes, rest: io.BufferedIOBase) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_image_size_within_budget(built_images: dict[str, str], name: str) -> None:
    size = image_size_mb(built_images[name])
    budget = BUDGET_MB[name]
    SIZES_MB[name] = (size, budget)
    print(f"{built_images[name]}: {size:.0f} MB (budget {budget or '-'})")
    if budget is not None:
        assert size <= budget, f"{name} is {size:.0f} MB > {budget} MB: see docs/images.md (layer listing)"


@pytest.mark.parametrize("name", STAGE_IMAGES)
def test_read_only_runtime_env(built_images: dict[str, str], name: str) -> None:
    """Caches and HOME point at /tmp, the only writable path besides /airflow/xcom."""
    env = docker("image", "inspect", "-f", "{{json .Config.Env}}", built_images[name]).stdout
    for wanted in (
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
        "HOME=/tmp",
        "MPLCONFIGDIR=/tmp/matplotlib",
        "XCOM_DIR=/airflow/xcom",
    ):
        assert wanted in env, f"{wanted} missing from {env}"


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_installed_distributions_are_exactly_the_pins(built_images: dict[str, str], name: str) -> None:
    """Nothing unpinned slipped in: every installed distribution is in constraints.txt, same version."""
    from tests.containers.test_constraints import pins

    script = (
        "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)\n"
    )
    out = docker(
        "run", "--rm", "--read-only", "--entrypoint", "python", built_images[name], "-c", script
    ).stdout
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    installed = {canonicalize_name(n): Version(v) for n, v in (line.split() for line in out.splitlines())}
    for own in ("setuptools", "pip", "wheel", "census-pipeline-common", f"census-{name}"):
        installed.pop(own, None)
    pinned = pins(name)
    assert {k: str(v) for k, v in installed.items() if pinned.get(k) != v} == {}, "installed but not pinned"
    assert sorted(set(pinned) - set(installed)) == [], "pinned but not installed"


@pytest.mark.parametrize("name", STAGE_IMAGES)
def test_every_module_imports_in_the_slimmed_image(built_images: dict[str, str], name: str) -> None:
    """The slimming (stripped .so, no tests/Flight/S3/setuptools) broke nothing the stage imports."""
    script = (
        "import importlib, pkgutil, sys\n"
        f"import {name}, pipeline_common\n"
        "failed = []\n"
        f"for pkg in ({name}, pipeline_common):\n"
        "    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if mod.name.endswith('__main__'):\n"
        "            continue\n"
        "        try:\n"
        "            importlib.import_module(mod.name)\n"
        "        except Exception as exc:\n"
        "            failed.append(f'{mod.name}: {exc!r}')\n"
        "import pyarrow.parquet, pyarrow.dataset, pyarrow.compute, pyarrow.fs, pyarrow.csv\n"
        "print('\\n'.join(failed)); sys.exit(1 if failed else 0)\n"
    )
    proc = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--entrypoint", "python", built_images[name],
        "-c", script, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
