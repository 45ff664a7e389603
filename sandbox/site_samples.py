"""A status site with a service in every state, for the site's tests (in
and out of a browser): current, behind, held back, failing, not published,
unknown; upstreams on known forges and elsewhere; text that must be
escaped."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tasks.site import Check, HeldBack, Platform, Service, Site

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)
PREFIX = "registry.example.org/privacy/privacy-oci"
AMD64, ARM64 = "linux/amd64", "linux/arm64"


def commit(n: int) -> str:
    return f"{n:x}".rjust(2, "0") * 20


def digest(n: int) -> str:
    return "sha256:" + f"{n:x}".rjust(2, "0") * 32


def published(name: str, upstream: str, head: int, at: int, **extra) -> Service:
    fields = dict(name=name, image=f"{PREFIX}/{name}", upstream=upstream, ref="branch main",
                  platforms=(Platform(AMD64, digest(at + 1), 31_457_280, Check(True, "healthy in 2.1 s")),
                             Platform(ARM64, digest(at + 2), 29_360_128, Check(True, "healthy in 14.8 s"))),
                  head=commit(head), published_commit=commit(at), published_version=commit(at)[:12],
                  published_at=NOW - timedelta(hours=3), index_digest=digest(at + 3))
    fields.update(extra)
    if fields.get("unknown"):
        fields["head"] = None
    return Service(**fields)


def sample_site() -> Site:
    held = HeldBack("start check", 2, NOW - timedelta(hours=1), NOW + timedelta(minutes=50),
                    "exited 1 <no config> & \"quotes\"")
    services = (
        published("redlib", "https://github.com/redlib-org/redlib", head=1, at=1),
        published("rimgo", "https://codeberg.org/rimgo/rimgo", head=3, at=2,
                  ref="tag_pattern semver", head_version="v1.4.0", published_version="v1.3.2"),
        published("nitter", "https://github.com/zedeus/nitter", head=5, at=4,
                  platforms=(Platform(AMD64, digest(5), 52_428_800, Check(True, "healthy in 3.0 s")),
                             Platform(ARM64, digest(6), 50_331_648, Check(True, "healthy in 20.2 s"),
                                      held_back=held, log=("Failed to connect to Redis.", "<exit>")))),
        published("scribe", "https://git.sr.ht/~edwardloveall/scribe", head=8, at=7,
                  platforms=(Platform(AMD64, digest(8), 41_943_040, Check(True, "healthy in 4.4 s"),
                                      failed="its build, 1 time(s) in a row: exit 2"),
                             Platform(ARM64, digest(9), 40_894_464, Check(True, "healthy in 31.0 s")))),
        Service("bibliogram", f"{PREFIX}/bibliogram", "https://git.example.org/cadence/bibliogram.git",
                "branch main", (Platform(AMD64, pending=True), Platform(ARM64, pending=True)),
                head=commit(10)),
        published("hello-web", "file:///srv/upstreams/hello-web/repo.git", head=11, at=11,
                  unknown="upstream <file:///srv/upstreams/hello-web/repo.git> cannot be asked for its commit"),
    )
    return Site("privacy-oci images", PREFIX, NOW, services)
