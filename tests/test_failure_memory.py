"""A failed build or start check is remembered in the registry, so that a
recipe that keeps failing is not built again on every tick: held back,
tried again after 1 h, 2 h, 4 h …, at once when its inputs change or a
retry is asked for. Real buildah builds, a real registry, real podman, and
the real ``doit`` from fresh CI jobs (no doit state)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sandbox.demo import stand_in_dockerfile
from tasks.decide_stale import Failure, backoff, held_back

# The build fails while upstream's message.txt says "broken".
BREAKS_ON_UPSTREAM = stand_in_dockerfile('RUN ! grep -q broken /app/message.txt || '
                                         '{ echo "upstream needs a newer toolchain" >&2; exit 2; }',
                                         'CMD ["cat", "/app/message.txt"]')
NOW = datetime(2026, 11, 30, 4, 0, tzinfo=timezone.utc)


def failure(attempts: int, check: str = "c", at: datetime = NOW) -> Failure:
    return Failure("build", attempts, at, "exit 2", check)


def test_backoff_doubles_from_an_hour_up_to_a_day():
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 9)] == [timedelta(hours=h) for h in (1, 2, 4, 8, 16, 24, 24)]


def test_a_failure_holds_back_until_its_backoff_runs_out_on_the_hourly_tick():
    assert not held_back(None, NOW, "c", retry=False)
    assert held_back(failure(1), NOW + timedelta(minutes=20), "c", retry=False)
    assert not held_back(failure(1), NOW + timedelta(minutes=58), "c", retry=False)    # next tick, a little early
    assert held_back(failure(2), NOW + timedelta(hours=1), "c", retry=False)
    assert not held_back(failure(2), NOW + timedelta(hours=2), "c", retry=False)
    assert not held_back(failure(3), NOW, "another check", retry=False)                # its start check changed
    assert not held_back(failure(3), NOW, "c", retry=True)


def test_hourly_ticks_try_a_recipe_that_always_fails_five_times_on_the_first_day():
    remembered, tries = None, []
    for hour in range(24):
        now = NOW + timedelta(hours=hour, minutes=1)
        if not held_back(remembered, now, "c", retry=False):
            tries.append(hour)
            remembered = failure((remembered.attempts if remembered else 0) + 1, at=now)
    assert tries == [0, 1, 3, 7, 15]


def test_a_recipe_that_fails_every_time_is_built_once_until_its_inputs_change(make_sandbox, client):
    box = make_sandbox(dockerfile=BREAKS_ON_UPSTREAM, names=("hello-cli", "hello-api"))
    box.upstreams["hello-cli"].commit({"message.txt": "broken\n"}, "needs a newer toolchain")
    box.fresh_job()

    first = box.doit(check=False)

    assert first.returncode != 0
    assert box.take_builds() == [("hello-api", "linux/amd64"), ("hello-cli", "linux/amd64")]
    assert box.take_checks() == [("hello-api", "linux/amd64")]
    assert "hello-cli linux/amd64: build failed 1 time(s) in a row" in first.stderr
    assert set(box.records()) == {"hello-api"}

    # Two fresh jobs, nothing changed: nothing is built, nothing checked,
    # the runs succeed, and the listing says why and when the next try is.
    for minutes in (20, 25):
        box.fresh_job()
        box.hours_later(minutes / 60)
        listing = box.doit("list", "--status", "--all")
        assert "hello-cli: held back: linux/amd64 failed its build 1 time(s) in a row" in listing.stderr
        assert "upstream needs a newer toolchain" in listing.stderr and "next try after" in listing.stderr
        assert "PRIVACY_OCI_RETRY=true" in listing.stderr
        assert {line.split()[1] for line in listing.stdout.splitlines() if line.startswith("R ")} == {"fan-out",
                                                                                                  "status-page"}
        quiet = box.doit()
        assert box.take_builds() == [] and box.take_checks() == []
        assert "hello-cli  " in quiet.stdout and "held back" in quiet.stdout
        report = json.loads((box.checkout / ".work" / "report.json").read_text())["services"]
        held = next(entry for entry in report if entry["service"] == "hello-cli")
        assert held["status"] == "held back" and held["held_back"][0]["attempts"] == 1
    assert client.manifest(f"{box.prefix}/hello-cli", "latest") is None

    # Upstream moves on: built, checked, published and recorded at once.
    fixed = box.upstreams["hello-cli"].commit({"message.txt": "fixed\n"}, "fix")
    box.fresh_job()
    box.doit()
    assert box.take_builds() == [("hello-cli", "linux/amd64")]
    assert box.take_checks() == [("hello-cli", "linux/amd64")]
    assert box.records()["hello-cli"] == fixed


def test_the_backoff_runs_out_and_a_retry_can_be_asked_for(make_sandbox):
    box = make_sandbox(dockerfile=BREAKS_ON_UPSTREAM, names=("hello-cli",))
    box.upstreams["hello-cli"].commit({"message.txt": "broken\n"}, "needs a newer toolchain")
    box.fresh_job()
    box.doit(check=False)
    box.take_builds()

    box.hours_later(1)                          # the next hourly tick: tried again, and failed again
    second = box.doit(check=False)
    assert box.take_builds() == [("hello-cli", "linux/amd64")]
    assert "build failed 2 time(s) in a row" in second.stderr

    box.hours_later(1)                          # the backoff is now 2 h
    box.doit()
    assert box.take_builds() == []

    box.env["PRIVACY_OCI_RETRY"] = "true"       # tried now, as asked (locally or from a pipeline run by hand)
    box.doit(check=False)
    assert box.take_builds() == [("hello-cli", "linux/amd64")]
