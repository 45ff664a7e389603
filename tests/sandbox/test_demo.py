"""The demo, the README's first command: it publishes, a second run does
nothing, and the world it leaves can be used again as its last lines say."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

# The real tier: the whole demo.
pytestmark = pytest.mark.real


def test_the_demo_publishes_and_its_world_can_be_used_again_as_it_says(tmp_path):
    workdir = tmp_path / "demo"
    demo = subprocess.run([sys.executable, "-m", "sandbox.demo", "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert re.search(r"hello-web:latest -> application/vnd.oci.image.index.v1\+json for linux/amd64, linux/arm64",
                     demo.stdout)
    assert "services: 2 up to date;" in demo.stdout
    # It writes the status site and says where.
    index = Path(re.search(r"^status page: (\S+)$", demo.stdout, re.MULTILINE).group(1))
    assert index.is_file() and "hello-web" in index.read_text()

    # Its own words: serve the registry again, source env.sh, run doit there.
    steps = demo.stdout[demo.stdout.index('To try "Using it" offline:'):].splitlines()[1:]
    serve, source, listing, build = (line.strip().split("  #")[0].strip() for line in steps)
    host = re.search(r"registry on (127\.0\.0\.1:\d+)", demo.stdout).group(1)
    registry = subprocess.Popen(["bash", "-c", serve.replace(">/dev/null 2>&1 &", "")], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://{host}/v2/")
        again = subprocess.run(["bash", "-c", f"{source} && {listing} && {build}"],
                               capture_output=True, text=True, timeout=600)
    finally:
        registry.terminate()
        registry.wait(timeout=10)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "-- build:hello-web:arm64" in again.stdout          # published already: nothing to build
    assert "hello-web" in again.stdout and "up to date" in again.stdout


def wait_for(url: str) -> None:
    for _ in range(100):
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answers on {url}")
