"""pipeline_common: the behaviour every stage relies on (URIs, atomic outputs, exit codes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pipeline_common import cli, resources, storage, uris
from pipeline_common.errors import StageError


@pytest.mark.parametrize(
    ("uri", "scheme", "path"),
    [
        ("gs://my-bucket/runs/a/raw.parquet", "gs", "my-bucket/runs/a/raw.parquet"),
        ("gcs://my-bucket/x.csv", "gs", "my-bucket/x.csv"),
        ("file:///tmp/a/b.parquet", "file", "/tmp/a/b.parquet"),
    ],
)
def test_parse_location_accepts_supported_forms(uri: str, scheme: str, path: str) -> None:
    loc = uris.parse_location(uri)
    assert (loc.scheme, loc.path) == (scheme, path)


def test_plain_path_becomes_absolute_file_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    loc = uris.parse_location("out/raw.parquet")
    assert loc.scheme == "file" and loc.path == str(tmp_path / "out" / "raw.parquet")
    assert loc.uri == f"file://{tmp_path}/out/raw.parquet"


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("", "is empty"),
        ("s3://bucket/key", "unsupported scheme 's3'"),
        ("gs://Bad_Bucket/key", "invalid bucket name"),
        ("gs://bucket", "names no object"),
        ("gs://bucket/dir/", "names no object"),
        ("file://host/x", "names a host"),
    ],
)
def test_parse_location_rejects_malformed_uris_with_a_fix(uri: str, problem: str) -> None:
    with pytest.raises(StageError) as info:
        uris.parse_location(uri, what="--output")
    assert problem in info.value.problem
    assert info.value.fix
    assert "\n" not in info.value.one_line("extract")


def test_atomic_output_moves_into_place_and_reports_hash(tmp_path: Path) -> None:
    loc = uris.parse_location(str(tmp_path / "sub" / "a.bin"))
    box: list[storage.Written] = []
    with storage.atomic_output(loc, box) as tmp:
        tmp.write_bytes(b"hello")
        assert not Path(loc.path).exists()  # invisible until committed
    assert Path(loc.path).read_bytes() == b"hello"
    assert box[0].bytes == 5
    assert box[0].sha256 == storage.sha256_of(loc)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.bin"]  # no temp file left


def test_atomic_output_failure_leaves_previous_content_and_no_temp(tmp_path: Path) -> None:
    loc = uris.parse_location(str(tmp_path / "a.bin"))
    Path(loc.path).write_bytes(b"old")
    with pytest.raises(RuntimeError), storage.atomic_output(loc) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert Path(loc.path).read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_output_set_removes_this_attempts_objects_on_failure(tmp_path: Path) -> None:
    keep = tmp_path / "other" / "keep.parquet"
    keep.parent.mkdir()
    keep.write_bytes(b"earlier output at another key")
    prefix = uris.parse_location(str(tmp_path / "features"))
    with pytest.raises(ValueError), storage.OutputSet() as out:
        with out.output(prefix.join("train.parquet")) as tmp:
            tmp.write_bytes(b"train")
        raise ValueError("failed before the manifest")
    assert not (tmp_path / "features" / "train.parquet").exists()
    assert keep.read_bytes() == b"earlier output at another key"


def test_cli_run_maps_outcomes_to_exit_codes_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XCOM_DIR", str(tmp_path))

    def ok(argv: object) -> dict[str, object]:
        return {"raw_uri": "gs://b/x.parquet"}

    assert cli.run("extract", ok, []) == 0
    result = json.loads((tmp_path / "return.json").read_text())
    assert result["raw_uri"] == "gs://b/x.parquet" and result["stage"] == "extract"
    assert result["version"] and result["seconds"] >= 0
    (tmp_path / "return.json").unlink()

    def bad(argv: object) -> dict[str, object]:
        raise StageError("the source has no rows", "point --source at a table with data")

    assert cli.run("extract", bad, []) == 2
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR")]
    assert err_lines == ["ERROR [extract] the source has no rows | fix: point --source at a table with data"]
    assert not (tmp_path / "return.json").exists()


def test_process_entry_freezes_the_heap_after_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """entry() = run() + gc.freeze(), so the process exits without collecting its modules."""
    import gc

    monkeypatch.setenv("XCOM_DIR", str(tmp_path))
    assert gc.get_freeze_count() == 0
    try:
        assert cli.entry("extract", lambda argv: {"raw_uri": "gs://b/x.parquet"}, []) == 0
        assert (tmp_path / "return.json").exists()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_result_carries_the_work_timings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """first_work is the first input read; process start, work and result follow in order."""
    monkeypatch.setenv("XCOM_DIR", str(tmp_path / "xcom"))
    source = tmp_path / "in.json"
    source.write_text("{}")

    def main(argv: object) -> dict[str, object]:
        storage.read_json(uris.parse_location(str(source)))
        storage.read_json(uris.parse_location(str(source)))  # a second read moves nothing
        return {}

    assert cli.run("extract", main, []) == 0
    t = json.loads((tmp_path / "xcom" / "return.json").read_text())["timings"]
    assert t["process_start_at"] <= t["first_work_at"] + 0.01
    assert t["first_work_at"] <= t["last_work_at"] <= t["result_at"]


def test_sigterm_removes_partial_output_and_exits_143(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    script = textwrap.dedent(
        f"""
        import time
        from pipeline_common import cli, storage, uris
        def main(argv):
            with storage.atomic_output(uris.parse_location({str(out)!r})) as tmp:
                tmp.write_bytes(b"partial")
                print("writing", flush=True)
                time.sleep(30)
            return {{}}
        raise SystemExit(cli.run("extract", main, []))
        """
    )
    env = {**os.environ, "XCOM_DIR": str(tmp_path / "xcom")}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143
    assert "terminated by SIGTERM" in err
    assert not out.exists()
    assert list(tmp_path.glob(".out.bin.*")) == []
    assert not (tmp_path / "xcom" / "return.json").exists()


def _stage_script(tmp_path: Path, body: str, *, entry: str = "run") -> subprocess.Popen[str]:
    """A stage process whose `main` is `body`; it prints "ready" when SIGTERM should be sent."""
    script = "import sys, threading, time\nfrom pipeline_common import cli, termination\n"
    script += textwrap.dedent(body)
    script += f"\nraise SystemExit(cli.{entry}('extract', main, []))\n"
    env = {
        **os.environ,
        "XCOM_DIR": str(tmp_path / "xcom"),
        "PYTHONPATH": f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    return proc


def test_sigterm_during_an_import_is_raised_after_it(tmp_path: Path) -> None:
    """Raised inside the import machinery, Terminated once left the global import lock held and
    the trainer deadlocked; it now waits until the import is done."""
    done = tmp_path / "imported"
    (tmp_path / "slow_module.py").write_text(
        f"import time\nprint('ready', flush=True)\ntime.sleep(1)\nopen({str(done)!r}, 'w').close()\n"
    )
    proc = _stage_script(
        tmp_path,
        """
        def main(argv):
            import slow_module
            time.sleep(30)
            return {}
        """,
    )
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert done.exists(), "Terminated was raised inside the import"
    assert "terminated by SIGTERM" in err
    assert not (tmp_path / "xcom" / "return.json").exists()


def test_sigterm_swallowed_by_a_finalizer_is_raised_again(tmp_path: Path) -> None:
    """Python swallows an exception raised in __del__ ("Exception ignored in"): the stage used to
    go on and finish as if no SIGTERM had come."""
    proc = _stage_script(
        tmp_path,
        """
        class Slow:
            def __del__(self):
                print("ready", flush=True)
                time.sleep(1)
        def main(argv):
            item = Slow()
            del item
            return {}
        """,
    )
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert "Exception ignored" not in err
    assert not (tmp_path / "xcom" / "return.json").exists()


def test_a_terminated_process_stage_exits_although_threads_still_run(tmp_path: Path) -> None:
    """After Terminated is handled the process ends at once: interpreter shutdown waited on (or,
    in native code, aborted around) the threads still running."""
    proc = _stage_script(
        tmp_path,
        """
        def main(argv):
            threading.Thread(target=time.sleep, args=(60,)).start()
            print("ready", flush=True)
            time.sleep(30)
            return {}
        """,
        entry="entry",
    )
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("ERROR [extract] terminated by SIGTERM; partial outputs removed")
    )


def test_a_stage_stuck_after_sigterm_is_ended_by_the_watchdog(tmp_path: Path) -> None:
    proc = _stage_script(
        tmp_path,
        """
        termination.GRACE_SECONDS = 1.0
        def main(argv):
            print("ready", flush=True)
            while True:  # a clean-up that never ends
                try:
                    time.sleep(30)
                except BaseException:
                    pass
        """,
        entry="entry",
    )
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("ERROR [extract] terminated by SIGTERM; not stopped 1 s later, exiting without clean-up")
    )


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1), ("400000 100000", 4)],
)
def test_available_cpus_reads_cgroup_v2_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, expected: int | None
) -> None:
    monkeypatch.delenv("PIPELINE_CPUS", raising=False)
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    affinity = len(os.sched_getaffinity(0))
    want = affinity if expected is None else min(expected, affinity)
    assert resources.available_cpus(tmp_path) == want


def test_available_cpus_env_override_and_its_validation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIPELINE_CPUS", "3")
    assert resources.available_cpus(tmp_path) == 3
    monkeypatch.setenv("PIPELINE_CPUS", "zero")
    with pytest.raises(StageError, match="PIPELINE_CPUS"):
        resources.available_cpus(tmp_path)


def test_help_needs_no_writable_xcom_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`--help` writes no result, so an image run without the XCom volume still prints its help;
    any real run is refused before its work when return.json cannot be written."""
    import argparse

    def main(argv):
        argparse.ArgumentParser(prog="stage").parse_args(argv)
        return {}

    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("XCOM_DIR", str(tmp_path / "file" / "xcom"))
    with pytest.raises(SystemExit) as stopped:
        cli.run("extract", main, ["--help"])
    assert stopped.value.code == 0 and "usage: stage" in capsys.readouterr().out
    assert cli.run("extract", main, []) == 2
    assert "XCOM_DIR" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("node_cpus", "quota", "sharers", "expected"),
    [
        (2, "200000 100000", "2", 1),  # the documented kind node: two trainers, one CPU each
        (8, "200000 100000", "2", 2),  # a larger node: each keeps its whole limit
        (3, "200000 100000", "2", 1),  # an odd share rounds down, never to zero
        (2, "max 100000", "4", 1),
        (4, "max 100000", "1", 4),
        (4, "200000 100000", "", 2),  # unset: the whole node, then the quota
    ],
)
def test_available_cpus_shares_the_node_between_pods_running_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node_cpus: int, quota: str, sharers: str, expected: int
) -> None:
    monkeypatch.delenv("PIPELINE_CPUS", raising=False)
    monkeypatch.setenv("PIPELINE_CPU_SHARERS", sharers)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(node_cpus)))
    (tmp_path / "cpu.max").write_text(quota + "\n")
    assert resources.available_cpus(tmp_path) == expected


def test_a_bad_cpu_sharers_value_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_CPUS", raising=False)
    monkeypatch.setenv("PIPELINE_CPU_SHARERS", "0")
    with pytest.raises(StageError, match="PIPELINE_CPU_SHARERS='0' is not a positive integer"):
        resources.available_cpus(tmp_path)


def test_env_numbers_take_the_default_when_unset_and_refuse_what_a_stage_cannot_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline_common import env

    monkeypatch.delenv("STAGE_KNOB", raising=False)
    assert env.number("STAGE_KNOB", 7) == 7
    monkeypatch.setenv("STAGE_KNOB", " 3 ")
    assert env.number("STAGE_KNOB", 7) == 3
    monkeypatch.setenv("STAGE_KNOB", "0")
    assert env.number("STAGE_KNOB", 7, minimum=0) == 0
    with pytest.raises(StageError, match=r"STAGE_KNOB='0' is not a positive integer") as refused:
        env.number("STAGE_KNOB", 7)
    assert "set STAGE_KNOB to e.g. 7" in refused.value.fix
    monkeypatch.setenv("STAGE_KNOB", "0.5")
    assert env.number("STAGE_KNOB", 2.0, kind=float, minimum=0) == 0.5
    with pytest.raises(StageError, match="is not a positive integer"):
        env.number("STAGE_KNOB", 7)  # a fraction is no count
    monkeypatch.setenv("STAGE_KNOB", "-1")
    with pytest.raises(StageError, match=r"STAGE_KNOB='-1' is not a non-negative number"):
        env.number("STAGE_KNOB", 2.0, kind=float, minimum=0)
