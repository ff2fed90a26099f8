"""Container tier: the real images on a real Docker engine, run like KubernetesPodOperator pods.

The engine is started when needed (scripts/docker_engine.sh) and the images are built once per
session by scripts/build_images.sh, which skips any image already built from the same inputs.
`make test-containers` builds them before pytest starts, so their progress shows live.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.containers.kpo import ROOT, image_ref

STAGE_IMAGES = ("extractor", "preprocessor", "trainer")
ALL_IMAGES = (*STAGE_IMAGES, "mlflow")
# Sizes seen by test_image_size, for the terminal summary.
SIZES_MB: dict[str, tuple[float, int | None]] = {}


@pytest.fixture(scope="session")
def docker_engine() -> None:
    proc = subprocess.run(
        [ROOT / "scripts" / "docker_engine.sh"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"no Docker engine: {proc.stderr.strip() or proc.stdout.strip()}", pytrace=False)


@pytest.fixture(scope="session")
def built_images(docker_engine: None) -> dict[str, str]:
    """Every image of this tier, built (or found up to date) by scripts/build_images.sh."""
    proc = subprocess.run(
        [ROOT / "scripts" / "build_images.sh", *ALL_IMAGES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"scripts/build_images.sh failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}", pytrace=False
        )
    return {name: image_ref(name) for name in ALL_IMAGES}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SIZES_MB:
        return
    terminalreporter.section("image sizes (uncompressed, MB = 10^6 bytes)")
    for name, (size, budget) in sorted(SIZES_MB.items()):
        terminalreporter.write_line(f"  {image_ref(name):36s} {size:7.0f} MB   budget {budget or '-'}")
