"""podman's run root: within the length podman accepts, whatever TMPDIR is."""
from __future__ import annotations

from pathlib import Path

from tasks.runtimes.podman import RUN_ROOT_LIMIT, PodmanRuntime, run_root_of
from tasks.settings import Settings

# A TMPDIR longer than podman's limit leaves room for.
LONG = "/dev/shm/" + "t" * 40


def test_the_run_root_is_in_the_temporary_folder_where_it_fits():
    assert run_root_of(Path("/store/runtime"), "/tmp").parent == Path("/tmp")
    assert run_root_of(Path("/store/runtime"), "/run/user/1000").parent == Path("/run/user/1000")


def test_a_temporary_folder_too_long_for_podman_gives_a_run_root_in_tmp():
    run_root = run_root_of(Path("/store/runtime"), LONG)
    assert run_root.parent == Path("/tmp") and len(str(run_root)) <= RUN_ROOT_LIMIT
    # One run root for each store, wherever it is made.
    assert run_root.name == run_root_of(Path("/store/runtime"), "/tmp").name
    assert run_root.name != run_root_of(Path("/other/runtime"), "/tmp").name


def test_the_runtime_runs_podman_with_that_run_root(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", LONG)
    command = PodmanRuntime(Settings(environ={}, buildah_root=str(tmp_path))).command("ps")
    run_root = command[command.index("--runroot") + 1]
    assert run_root == str(run_root_of(tmp_path / "runtime", LONG))
    assert len(run_root) <= RUN_ROOT_LIMIT
