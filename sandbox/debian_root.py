"""Debian bookworm root filesystems made from Debian's own packages, as
stand-ins for the Debian-based images the recipes start from, and a chroot
to run a recipe's RUN scripts in.

``debootstrap --variant=minbase`` is what debian:bookworm-slim is made from
(debuerreotype; slim only drops documentation and locales), and the rust
slim images add ``ca-certificates gcc libc6-dev`` to it (rust-lang/docker-rust
stable/bookworm/slim/Dockerfile, read at 0090aa71). Each root is kept as a
tar under ~/.cache/privacy-oci/debian, made once; the .deb files that apt
fetches inside a root are kept beside it, so a second run downloads only the
package lists. The roots reach deb.debian.org, as the images' apt does."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import locked

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "privacy-oci" / "debian"
MIRROR = "http://deb.debian.org/debian"
# The apt sources of the debian:bookworm images (deb822, as they have them).
SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What the official images set for every RUN step.
IMAGE_ENV = {"PATH": PATH, "HOME": "/root"}
# The ENV of the rust images (rust-lang/docker-rust, as above).
RUST_ENV = {"RUSTUP_HOME": "/usr/local/rustup", "CARGO_HOME": "/usr/local/cargo",
            "PATH": "/usr/local/cargo/bin:" + PATH}
RUST_SLIM_PACKAGES = ("ca-certificates", "gcc", "libc6-dev")
TIMEOUT_SECONDS = 600
# A cached root is made again after this, so that it follows Debian's point
# releases as the images do.
MAX_AGE_SECONDS = 30 * 24 * 3600


def image_tar(packages: tuple[str, ...] = ()) -> Path:
    """The cached tar of a bookworm minbase root with ``packages`` installed
    (none: debian:bookworm-slim; RUST_SLIM_PACKAGES: rust:*-slim-bookworm
    without its toolchain), made on first use."""
    name = "-".join(("bookworm-minbase", *packages))
    tar = CACHE / f"{name}.tar"
    CACHE.mkdir(parents=True, exist_ok=True)
    with locked(CACHE / f"{name}.lock"):
        if tar.exists() and time.time() - tar.stat().st_mtime < MAX_AGE_SECONDS:
            return tar
        if packages:
            with Root(image_tar()) as root:
                root.run("apt-get update -q && apt-get install -y -q --no-install-recommends "
                         + " ".join(packages) + " && rm -rf /var/lib/apt/lists/*")
                _write_tar(root.path, tar)
            return tar
        with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
            path = Path(scratch) / "root"
            _check(["debootstrap", "--variant=minbase", "bookworm", str(path), MIRROR], "debootstrap")
            (path / "etc/apt/sources.list").unlink(missing_ok=True)
            (path / "etc/apt/sources.list.d/debian.sources").write_text(SOURCES)
            _write_tar(path, tar)
        return tar


class Root:
    """A root extracted from ``tar`` into a directory of its own, with /proc
    mounted and the host's DNS settings, removed on exit. ``run`` runs a
    shell script in it as a RUN step runs: ``/bin/sh -c`` in a directory,
    with only the environment given."""

    def __init__(self, tar: Path):
        self.tar = Path(tar)
        self.path = Path(tempfile.mkdtemp(prefix="debian-root-"))
        self._mounted: list[Path] = []

    def __enter__(self) -> Root:
        try:
            _check(["tar", "-C", str(self.path), "-xf", str(self.tar)], "tar")
            shutil.copy("/etc/resolv.conf", self.path / "etc/resolv.conf")
            self._mount("-t", "proc", "proc", self.path / "proc")
            self._share_debs(into_root=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._share_debs(into_root=False)
        finally:
            for target in reversed(self._mounted):
                subprocess.run(["umount", "--lazy", str(target)], capture_output=True)
            # Never delete through a mount that is still there.
            mounts = Path("/proc/self/mounts").read_text().split()
            if not any(mount == str(self.path) or mount.startswith(f"{self.path}/") for mount in mounts):
                shutil.rmtree(self.path, ignore_errors=True)

    def run(self, script: str, env: dict[str, str] | None = None, cwd: str = "/", user: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        """``/bin/sh -c script`` in the root, in ``cwd``, as ``user`` (uid:gid)."""
        command = ["chroot", *([f"--userspec={user}"] if user else []), str(self.path),
                   "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in {**IMAGE_ENV, **(env or {})}.items()),
                   "/bin/sh", "-c", 'cd "$0" && exec /bin/sh -c "$1"', cwd, script]
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=TIMEOUT_SECONDS)
        if check and result.returncode != 0:
            raise AssertionError(f"in {self.tar.name}, exit {result.returncode}:\n{script}\n"
                                 f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}")
        return result

    def file(self, path: str) -> Path:
        """A path inside the root, seen from outside."""
        return self.path / path.lstrip("/")

    def _mount(self, *args) -> None:
        _check(["mount", *map(str, args)], "mount")
        self._mounted.append(Path(args[-1]))

    def _share_debs(self, into_root: bool) -> None:
        """Hard links between the cache of .deb files and the root's apt
        archive (apt's own lock stays private to the root)."""
        shared = CACHE / "debs"
        shared.mkdir(parents=True, exist_ok=True)
        archive = self.path / "var/cache/apt/archives"
        if not archive.is_dir():
            return
        source, target = (shared, archive) if into_root else (archive, shared)
        with locked(CACHE / "debs.lock"):
            for deb in source.glob("*.deb"):
                if not (target / deb.name).exists():
                    try:
                        os.link(deb, target / deb.name)
                    except OSError:
                        shutil.copy2(deb, target / deb.name)


def _write_tar(root: Path, tar: Path) -> None:
    """``root`` as ``tar``, written under another name and renamed when whole;
    without the .deb files apt left (they live in the shared cache)."""
    (CACHE / "debs").mkdir(parents=True, exist_ok=True)
    with locked(CACHE / "debs.lock"):
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            shared = CACHE / "debs" / deb.name
            if not shared.exists():
                os.link(deb, shared)
            deb.unlink()
    partial = tar.with_suffix(".partial")
    _check(["tar", "-C", str(root), "--one-file-system", "-cf", str(partial), "."], "tar")
    partial.rename(tar)


def _check(command: list[str], what: str) -> None:
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise RuntimeError(f"{what} exited {result.returncode}: {result.stderr[-3000:] or result.stdout[-3000:]}")
