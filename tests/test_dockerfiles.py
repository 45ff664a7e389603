"""The shipped Dockerfiles pass hadolint (settings in .hadolint.yaml) and
follow the house rules: a non-root user, the real port, a revision label.

They are also held against what was read upstream, as far as that can be
checked without building: every ``COPY`` from the build context names a path
of the upstream tree recorded in ``Dockerfiles/<service>/upstream-files.txt``;
every ``FROM`` names a tag recorded in ``Dockerfiles/base-image-tags.yml`` as
published for each platform the service lists in services.yml; the final
stage runs only programs it has, stops with the signal the program handles,
names its required settings; the build context's ignore file keeps ``.git``
and upstream's CI files out; Go and Rust cross-compile. Each service has a
compose example and a row in the README. Every checker is a function that
returns the problems it finds, and each has a negative case below."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tasks.dockerfile import base_images, instructions

PROJECT = Path(__file__).resolve().parent.parent


def load_yaml(path: Path):
    return YAML(typ="safe").load(path.read_text())


CATALOGUE = load_yaml(PROJECT / "services.yml")["services"]
TAGS = load_yaml(PROJECT / "Dockerfiles" / "base-image-tags.yml")["images"]
# The recipes this project ships, held to their upstreams here (those a fork
# still has). A service of your own is linted with hadolint only (README,
# "Adding a service").
SHIPPED = ("bibliogram", "scribe", "nitter", "redlib", "rimgo")
SERVICES = [name for name in SHIPPED if name in CATALOGUE and (PROJECT / "Dockerfiles" / name).is_dir()]
DOCKERFILES = [PROJECT / "Dockerfiles" / name / "Dockerfile" for name in SERVICES]
# Every recipe the catalogue names, the shipped and your own.
ALL_DOCKERFILES = sorted({PROJECT / settings.get("dockerfile", f"Dockerfiles/{name}/Dockerfile")
                          for name, settings in CATALOGUE.items()})
PORTS = {"bibliogram": "10407", "scribe": "8080", "nitter": "8080", "redlib": "8080", "rimgo": "3000"}
# What each program handles (see the comments in the recipes).
STOP_SIGNALS = {"bibliogram": "SIGTERM", "scribe": "SIGINT", "nitter": "SIGINT", "redlib": "SIGTERM",
                "rimgo": "SIGTERM"}
# Environment variables, or files (with a dot) mounted into /src (nitter's WORKDIR).
REQUIRED = {"bibliogram": ["BIBLIOGRAM_CONFIG"], "scribe": ["SECRET_KEY_BASE", "APP_DOMAIN"],
            "nitter": ["nitter.conf", "sessions.jsonl"], "redlib": [], "rimgo": []}
DATA_VOLUMES = {"bibliogram": ["/app/db"]}
CROSS_COMPILING = re.compile(r"\b(go|cargo) build\b")
# Programs that an `apk add` or `apt-get install` of the package installs.
PACKAGE_PROGRAMS = {"tini": {"tini"}, "openssl": {"openssl"}, "graphicsmagick": {"gm"}, "wget": {"wget"}}
INSTALLS = (["apk", "add"], ["apt-get", "install"])
# Builds that run git in their checkout for their version line: their ignore
# file keeps what git reads of .git (tests/test_dockerfiles_real.py runs the
# commands), and nothing that names where the commit came from or differs
# between two checkouts of it.
GIT_READERS = {"nitter": "src/views/about.nim", "redlib": "build.rs"}
GIT_READ = (".git/HEAD", ".git/objects/ab/cdef0123", ".git/refs/heads", ".git/shallow")
GIT_UNREAD = (".git/FETCH_HEAD", ".git/config", ".git/index", ".git/logs/HEAD", ".git/hooks/pre-push.sample")
CI_FILES = {".github", ".gitlab-ci.yml", ".gitlab", ".travis.yml", ".builds", ".build.yml", ".woodpecker",
            ".woodpecker.yml", ".forgejo", ".gitea", ".circleci", ".drone.yml"}
HEADER = re.compile(r"^# read from (\S+) at ([0-9a-f]{40}) \((.+)\)$")




# --- parsing ---------------------------------------------------------------

@dataclass
class Stage:
    image: str
    name: str | None
    platform: str | None
    lines: list[str] = field(default_factory=list)


def stages(text: str) -> list[Stage]:
    """The stages, their images with the global ARG defaults put in."""
    result: list[Stage] = []
    defaults: dict[str, str] = {}
    for line in instructions(text):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "ARG" and not result:
            name, _, value = rest.strip().partition("=")
            defaults[name] = value
        elif keyword.upper() == "FROM":
            words = rest.split()
            platform = words.pop(0).split("=", 1)[1] if words[0].startswith("--platform=") else None
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m.group(1) or m.group(2), ""), words[0])
            result.append(Stage(image, name, platform))
        elif result:
            result[-1].lines.append(line)
    return result


def split(line: str) -> tuple[str, dict[str, str], list[str]]:
    """An instruction's keyword, its --flags and its arguments (JSON or words)."""
    keyword, _, rest = line.partition(" ")
    flags = {}
    rest = rest.strip()
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    if rest.startswith("["):
        return keyword.upper(), flags, json.loads(rest)
    try:
        return keyword.upper(), flags, shlex.split(rest)
    except ValueError:          # a shell script shlex cannot take apart
        return keyword.upper(), flags, rest.split()


def of(stage: Stage, keyword: str) -> list[tuple[dict[str, str], list[str], str]]:
    found = []
    for line in stage.lines:
        if line.split(" ", 1)[0].upper() == keyword:
            _, flags, arguments = split(line)
            found.append((flags, arguments, line))
    return found


def context_copies(text: str) -> list[str]:
    """The build-context paths that COPY instructions (without --from) name."""
    return [source for stage in stages(text) for flags, arguments, _ in of(stage, "COPY")
            if "from" not in flags for source in arguments[:-1]]


def normal(path: str) -> str:
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.strip("/") or "."


def upstream_files(text: str) -> tuple[tuple[str, str] | None, set[str]]:
    lines = text.splitlines()
    header = HEADER.match(lines[0]) if lines else None
    return (header.group(1, 2) if header else None), {normal(line) for line in lines[1:] if line.strip()}


def commands(arguments: list[str]) -> list[str]:
    """The programs a CMD/ENTRYPOINT/HEALTHCHECK runs: the first word, and
    what a `sh -c` script `exec`s."""
    if not arguments:
        return []
    programs = [arguments[0]]
    if Path(arguments[0]).name == "sh" and arguments[1:2] == ["-c"]:
        programs += re.findall(r"\bexec\s+(\S+)", arguments[2])
    return [Path(program).name for program in programs]


def final_stage_programs(stage: Stage) -> set[str]:
    programs = set(TAGS.get(stage.image, {}).get("programs", []))
    for _, words, _ in of(stage, "RUN"):
        for at in range(len(words) - 1):
            if words[at:at + 2] in INSTALLS:
                for package in words[at + 2:]:
                    if package in ("&&", ";"):
                        break
                    programs |= PACKAGE_PROGRAMS.get(package, set())
    for _, arguments, _ in of(stage, "COPY"):
        *sources, destination = arguments
        names = [Path(source).name for source in sources] if destination.endswith(("/", ".")) \
            else [Path(destination).name]
        programs.update(names)
    return programs


# --- checkers: each returns its problems -----------------------------------

def copy_problems(text: str, recorded: set[str]) -> list[str]:
    return [f"COPY {source}: not in the recorded upstream files" for source in context_copies(text)
            if normal(source) != "." and normal(source) not in recorded]


def from_problems(text: str, platforms: list[str], tags: dict) -> list[str]:
    problems = []
    for image in base_images(text, {}):
        if image not in tags:
            problems.append(f"FROM {image}: not in Dockerfiles/base-image-tags.yml")
            continue
        missing = [platform for platform in platforms if platform not in tags[image]["platforms"]]
        if missing:
            problems.append(f"FROM {image}: not recorded as published for {', '.join(missing)}")
    return problems


def final_stage_problems(text: str, service: str) -> list[str]:
    final = stages(text)[-1]
    problems = []
    users = [arguments[0] for _, arguments, _ in of(final, "USER")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("no USER, or root")
    signals = [arguments[0] for _, arguments, _ in of(final, "STOPSIGNAL")]
    if signals != [STOP_SIGNALS[service]]:
        problems.append(f"STOPSIGNAL {signals} is not [{STOP_SIGNALS[service]}]")
    have = final_stage_programs(final)
    checks = of(final, "HEALTHCHECK")
    if not checks:
        problems.append("no HEALTHCHECK")
    runs = []
    for _, _, line in checks:
        if " CMD " not in line:
            problems.append(f"{line}: no command")
            continue
        command = line.split(" CMD ", 1)[1].strip()
        runs += commands(json.loads(command) if command.startswith("[") else shlex.split(command))
    for keyword in ("ENTRYPOINT", "CMD"):
        for _, arguments, _ in of(final, keyword)[-1:]:
            runs += commands(arguments)
    problems += [f"runs {program}, which the final stage does not have" for program in runs
                 if program not in have]
    volumes = [volume for _, arguments, _ in of(final, "VOLUME") for volume in arguments]
    if volumes != DATA_VOLUMES.get(service, []):
        problems.append(f"VOLUME {volumes} is not {DATA_VOLUMES.get(service, [])}")
    start = " ".join(line for keyword in ("ENTRYPOINT", "CMD") for _, _, line in of(final, keyword))
    problems += [f"the start command does not name {setting}" for setting in REQUIRED[service]
                 if setting not in start]
    return problems


def cross_compile_problems(text: str) -> list[str]:
    problems = []
    for stage in stages(text):
        if any(CROSS_COMPILING.search(line) for line in stage.lines):
            if stage.platform != "$BUILDPLATFORM":
                problems.append(f"the {stage.name} stage compiles without FROM --platform=$BUILDPLATFORM")
            if not any("TARGETARCH" in line for line in stage.lines):
                problems.append(f"the {stage.name} stage does not compile for $TARGETARCH")
    return problems


def glob(pattern: str) -> re.Pattern:
    """A .dockerignore pattern (Go's filepath.Match, plus **) as a regex."""
    regex = "".join(".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?" else re.escape(part)
                    for part in re.split(r"(\*\*|\*|\?)", pattern))
    return re.compile(regex + r"\Z")


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether a .dockerignore excludes ``path`` (or a folder above it)."""
    parts = normal(path).split("/")
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = glob(normal(pattern.lstrip("!")))
        if any(regex.match("/".join(parts[:depth])) for depth in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def ignore_problems(ignore_text: str, recorded: set[str], dockerfile_text: str, reads_git: bool = False) -> list[str]:
    patterns = [line.strip() for line in ignore_text.splitlines() if line.strip() and not line.startswith("#")]
    git = set(GIT_UNREAD) if reads_git else {".git"}
    problems = [f"{path} is not ignored" for path in sorted(git | (CI_FILES & recorded))
                if not ignored(path, patterns)]
    if reads_git:
        problems += [f"{path} is ignored, and git reads it" for path in GIT_READ if ignored(path, patterns)]
    problems += [f"COPY {source}: the ignore file excludes it" for source in context_copies(dockerfile_text)
                 if normal(source) != "." and ignored(source, patterns)]
    return problems


IMAGE = re.compile(r"^\$\{CI_REGISTRY_IMAGE(:\?[^}]*)?\}/(?P<service>[a-z0-9-]+):latest$")


def compose_problems(text: str, service: str, tags: dict) -> list[str]:
    services = YAML(typ="safe").load(text).get("services", {})
    main = services.get(service)
    if not main:
        return [f"no service {service}"]
    problems = []
    image = IMAGE.match(main.get("image", ""))
    if not image or image.group("service") != service:
        problems.append(f"image {main.get('image')!r} is not ${{CI_REGISTRY_IMAGE}}/{service}:latest")
    if not any(str(port).rsplit(":", 1)[-1] == PORTS[service] for port in main.get("ports", [])):
        problems.append(f"no port mapped to {PORTS[service]}")
    environment = main.get("environment", {})
    targets = {volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
               for volume in main.get("volumes", [])}
    for setting in REQUIRED[service]:
        if "." in setting:
            if f"/src/{setting}" not in targets:
                problems.append(f"{setting} is not mounted")
        elif not str(environment.get(setting, "")).startswith(f"${{{setting}:?"):
            problems.append(f"{setting} is not required (${{{setting}:?...}})")
    for volume in DATA_VOLUMES.get(service, []):
        if volume not in targets:
            problems.append(f"no volume at {volume}")
    for name, other in services.items():
        if name != service and other.get("image") not in tags:
            problems.append(f"{name}: image {other.get('image')} not in Dockerfiles/base-image-tags.yml")
    if service == "nitter":
        redis = [name for name, other in services.items() if str(other.get("image", "")).startswith("redis:")]
        if not redis:
            problems.append("no Redis service")
        elif (main.get("depends_on") or {}).get(redis[0], {}).get("condition") != "service_healthy":
            problems.append(f"nitter does not wait for a healthy {redis[0]}")
    return problems


def readme_problems(readme: str) -> list[str]:
    images = re.search(r"\n## Images\n(.*?)\n(## [^\n]*)\n", readme, re.S)
    if not images:
        return ["no ## Images section"]
    if images.group(2) != "## Benchmarks":
        return [f"## Images is followed by {images.group(2)!r}, not ## Benchmarks"]
    problems = []
    rows = {match.group(1): match.group(0) for match in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$",
                                                                     images.group(1), re.M)}
    for service in SERVICES:
        settings = CATALOGUE[service]
        row = rows.get(service)
        if row is None:
            problems.append(f"no row for {service}")
            continue
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        expected = [f"`{service}`", settings["upstream"], ", ".join(settings["platforms"]), PORTS[service]]
        if cells[:4] != expected:
            problems.append(f"{service}: row {cells[:4]} is not {expected}")
        problems += [f"{service}: {setting} is not in its row" for setting in REQUIRED[service]
                     if setting not in cells[4]]
        if f"Dockerfiles/{service}/compose.yaml" not in images.group(1):
            problems.append(f"{service}: its compose example is not named")
    return problems


# --- the shipped recipes ---------------------------------------------------

def read(service: str, name: str) -> str:
    return (PROJECT / "Dockerfiles" / service / name).read_text()


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(dockerfile):
    assert shutil.which("hadolint"), "hadolint is missing: run scripts/bootstrap"
    result = subprocess.run(["hadolint", "--config", str(PROJECT / ".hadolint.yaml"), str(dockerfile)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM alpine\nRUN cd /tmp && echo hi\nCMD echo hi\n")
    result = subprocess.run(["hadolint", "--config", str(PROJECT / ".hadolint.yaml"), str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_runtime_stage_is_non_root_exposes_its_port_and_labels_the_revision(dockerfile):
    runtime = dockerfile.read_text().split("\nFROM ")[-1]
    assert "\nUSER " in runtime and "USER root" not in runtime
    assert f"EXPOSE {PORTS[dockerfile.parent.name]}" in runtime
    assert 'org.opencontainers.image.revision="${UPSTREAM_COMMIT}"' in runtime


def test_every_service_has_a_recipe():
    assert all(path.is_file() for path in ALL_DOCKERFILES)
    assert SERVICES == list(SHIPPED)      # this project's own catalogue ships all five


@pytest.mark.parametrize("service", SERVICES)
def test_the_upstream_file_list_says_where_it_was_read(service):
    source, recorded = upstream_files(read(service, "upstream-files.txt"))
    assert source is not None, "the first line must be: # read from <repository> at <40-hex commit> (<note>)"
    assert recorded


@pytest.mark.parametrize("service", SERVICES)
def test_every_copy_from_the_context_is_in_the_upstream_tree(service):
    assert context_copies(read(service, "Dockerfile"))
    assert copy_problems(read(service, "Dockerfile"), upstream_files(read(service, "upstream-files.txt"))[1]) == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_base_image_tag_is_published_for_the_service_platforms(service):
    assert from_problems(read(service, "Dockerfile"), CATALOGUE[service]["platforms"], TAGS) == []


@pytest.mark.parametrize("service", SERVICES)
def test_the_final_stage_runs_what_it_has_as_non_root_and_names_its_required_settings(service):
    assert final_stage_problems(read(service, "Dockerfile"), service) == []


@pytest.mark.parametrize("service", SERVICES)
def test_compiled_languages_cross_compile(service):
    assert cross_compile_problems(read(service, "Dockerfile")) == []


def test_go_and_rust_builds_are_recognised():
    compiled = {service for service in SERVICES
                if any(CROSS_COMPILING.search(line) for line in instructions(read(service, "Dockerfile")))}
    assert compiled == {"redlib", "rimgo"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_context_ignore_file_keeps_git_and_ci_files_out(service):
    assert ignore_problems(read(service, "Dockerfile.dockerignore"),
                           upstream_files(read(service, "upstream-files.txt"))[1],
                           read(service, "Dockerfile"), reads_git=service in GIT_READERS) == []


def start_script(service: str) -> str:
    """The ``sh -c`` script of the final stage's CMD."""
    _, arguments, _ = of(stages(read(service, "Dockerfile"))[-1], "CMD")[-1]
    assert arguments[:2] == ["/bin/sh", "-c"], arguments
    return arguments[2]


@pytest.fixture
def nitter_workdir():
    """A WORKDIR like the image's /src that another user may enter, with a
    stand-in nitter that says it started."""
    directory = Path(tempfile.mkdtemp(prefix="nitter-src-"))
    directory.chmod(0o755)
    (directory / "nitter").write_text("#!/bin/sh\necho nitter started\n")
    (directory / "nitter").chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def start_nitter(directory: Path) -> subprocess.CompletedProcess:
    """The image's start command, as an unprivileged user (as USER 10001)."""
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c",
                           start_script("nitter")], cwd=directory, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, timeout=30)


def test_nitter_stops_at_start_naming_a_missing_or_unreadable_file(nitter_workdir):
    missing = start_nitter(nitter_workdir)
    assert missing.returncode == 78 and "nitter.conf is missing" in missing.stderr, missing.stderr
    (nitter_workdir / "nitter.conf").mkdir()   # what a bind mount of a missing host path makes
    directory = start_nitter(nitter_workdir)
    assert directory.returncode == 78 and "nitter.conf is not a file" in directory.stderr, directory.stderr
    (nitter_workdir / "nitter.conf").rmdir()
    (nitter_workdir / "nitter.conf").write_text("[Server]\n")
    (nitter_workdir / "nitter.conf").chmod(0o644)
    no_sessions = start_nitter(nitter_workdir)
    assert no_sessions.returncode == 78 and "sessions.jsonl is missing" in no_sessions.stderr
    (nitter_workdir / "sessions.jsonl").write_text("{}\n")
    (nitter_workdir / "sessions.jsonl").chmod(0o600)    # root's, as mounted from the host
    unreadable = start_nitter(nitter_workdir)
    assert unreadable.returncode == 78 and "sessions.jsonl is not readable by uid 65534" in unreadable.stderr, \
        unreadable.stderr
    (nitter_workdir / "sessions.jsonl").chmod(0o644)
    started = start_nitter(nitter_workdir)
    assert (started.returncode, started.stdout, started.stderr) == (0, "nitter started\n", "")


def test_nitter_ships_no_config_of_its_own():
    """Else the start check passes on the example (redisHost localhost) and
    nitter exits later with "Failed to connect to Redis."."""
    final = stages(read("nitter", "Dockerfile"))[-1]
    copied = [arguments[-1] for _, arguments, _ in of(final, "COPY")]
    assert not any(Path(destination).name == "nitter.conf" for destination in copied), copied


@pytest.mark.parametrize("service", SERVICES)
def test_the_compose_example_runs_the_image_with_its_settings(service):
    assert compose_problems(read(service, "compose.yaml"), service, TAGS) == []


def compose_schema_check(*paths: Path) -> subprocess.CompletedProcess:
    assert shutil.which("check-jsonschema"), "check-jsonschema is missing: run scripts/bootstrap"
    return subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", *map(str, paths)],
                          capture_output=True, text=True)


def test_the_compose_examples_follow_the_compose_specification():
    result = compose_schema_check(*(PROJECT / "Dockerfiles" / service / "compose.yaml" for service in SERVICES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_compose_file_off_the_specification_is_caught(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text(read("redlib", "compose.yaml").replace("restart: unless-stopped", "restart_policy: sometimes"))
    result = compose_schema_check(bad)
    assert result.returncode != 0 and "restart_policy" in result.stdout


def test_the_readme_lists_every_image():
    assert readme_problems((PROJECT / "README.md").read_text()) == []


def test_the_recorded_tags_say_where_they_were_read():
    for image, record in TAGS.items():
        assert re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+", image), image
        assert record["platforms"] and record["read"], image


# --- negative cases: each checker finds what it is for ---------------------

SOUND = """\
FROM --platform=$BUILDPLATFORM golang:1.22.12-alpine3.21 AS build
ARG TARGETARCH
COPY go.mod ./
COPY . .
RUN GOARCH="$TARGETARCH" go build -o /app
FROM alpine:3.24
RUN apk add --no-cache tini
COPY --from=build /app /usr/local/bin/app
VOLUME ["/app/db"]
USER 10001:10001
STOPSIGNAL SIGTERM
HEALTHCHECK CMD ["wget", "-q", "--spider", "http://127.0.0.1:10407/"]
ENTRYPOINT ["/sbin/tini", "--"]
CMD ["/bin/sh", "-c", ": \\"${BIBLIOGRAM_CONFIG:?is not set}\\"; exec app"]
"""


def test_the_sound_example_passes_every_checker():
    assert copy_problems(SOUND, {"go.mod"}) == []
    assert from_problems(SOUND, ["linux/amd64", "linux/arm64"], TAGS) == []
    assert final_stage_problems(SOUND, "bibliogram") == []
    assert cross_compile_problems(SOUND) == []
    assert ignore_problems(".git\n", {"go.mod"}, SOUND) == []


def test_a_copy_of_a_file_upstream_does_not_have_is_caught():
    assert copy_problems(SOUND.replace("COPY go.mod ./", "COPY go.mod go.work ./"), {"go.mod"}) == \
        ["COPY go.work: not in the recorded upstream files"]


def test_an_unrecorded_tag_or_one_without_a_platform_is_caught():
    assert from_problems(SOUND.replace("alpine:3.24", "alpine:3.99"), ["linux/amd64"], TAGS) == \
        ["FROM alpine:3.99: not in Dockerfiles/base-image-tags.yml"]
    amd64_only = {**TAGS, "alpine:3.24": {**TAGS["alpine:3.24"], "platforms": ["linux/amd64"]}}
    assert from_problems(SOUND, ["linux/amd64", "linux/arm64"], amd64_only) == \
        ["FROM alpine:3.24: not recorded as published for linux/arm64"]


@pytest.mark.parametrize("change, problem", [
    (("wget", "curl"), "runs curl, which the final stage does not have"),
    (("apk add --no-cache tini", "apk add --no-cache ca-certificates"), "runs tini, which the final stage does not have"),
    (("exec app", "exec node server.js"), "runs node, which the final stage does not have"),
    (("STOPSIGNAL SIGTERM\n", ""), "STOPSIGNAL [] is not [SIGTERM]"),
    (("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGINT"), "STOPSIGNAL ['SIGINT'] is not [SIGTERM]"),
    (("USER 10001:10001\n", ""), "no USER, or root"),
    (("USER 10001:10001", "USER root"), "no USER, or root"),
    (('VOLUME ["/app/db"]\n', ""), "VOLUME [] is not ['/app/db']"),
    (("BIBLIOGRAM_CONFIG", "CONFIG"), "the start command does not name BIBLIOGRAM_CONFIG"),
    (("HEALTHCHECK", "# HEALTHCHECK"), "no HEALTHCHECK"),
    (('CMD ["wget", "-q", "--spider", "http://127.0.0.1:10407/"]', "NONE"), "HEALTHCHECK NONE: no command"),
])
def test_a_final_stage_fault_is_caught(change, problem):
    assert final_stage_problems(SOUND.replace(*change), "bibliogram") == [problem]


def test_a_compile_without_cross_compiling_is_caught():
    emulated = SOUND.replace("--platform=$BUILDPLATFORM ", "")
    assert cross_compile_problems(emulated) == \
        ["the build stage compiles without FROM --platform=$BUILDPLATFORM"]
    assert cross_compile_problems(emulated.replace('GOARCH="$TARGETARCH" ', "").replace("ARG TARGETARCH\n", "")) \
        == ["the build stage compiles without FROM --platform=$BUILDPLATFORM",
            "the build stage does not compile for $TARGETARCH"]


def test_an_ignore_file_that_lets_git_in_or_keeps_a_copied_file_out_is_caught():
    assert ignore_problems("# nothing\n", {"go.mod", ".github"}, SOUND) == [".git is not ignored",
                                                                           ".github is not ignored"]
    assert ignore_problems(".git\n.github/\n*.mod\n", {"go.mod", ".github"}, SOUND) == \
        ["COPY go.mod: the ignore file excludes it"]
    git_kept = ".git/*\n!.git/HEAD\n!.git/objects\n!.git/refs\n!.git/shallow\n"
    assert ignore_problems(git_kept, set(), SOUND, reads_git=True) == []
    assert ignore_problems(".git\n", set(), SOUND, reads_git=True) == [
        f"{path} is ignored, and git reads it" for path in GIT_READ]
    assert ignore_problems(git_kept + "!.git/FETCH_HEAD\n", set(), SOUND, reads_git=True) == \
        [".git/FETCH_HEAD is not ignored"]
    assert ignore_problems(git_kept, set(), SOUND) == [".git is not ignored"]
    assert ignored("public/md/about.md", ["*.md"]) is False
    assert ignored("tests/a/b.py", ["tests/"]) is True
    assert ignored("README.md", ["*.md", "!README.md"]) is False


def test_a_bad_upstream_file_list_header_is_caught():
    assert upstream_files("# read from somewhere\nsrc/\n")[0] is None
    assert upstream_files(f"# read from github.com/a/b at {'a' * 40} (note)\nsrc/\n") == \
        (("github.com/a/b", "a" * 40), {"src"})


def test_a_compose_file_without_what_the_image_needs_is_caught():
    nitter = read("nitter", "compose.yaml")
    assert compose_problems(nitter.replace("8080:8080", "8080:80"), "nitter", TAGS) == ["no port mapped to 8080"]
    assert compose_problems(nitter.replace("/nitter:latest", "/nitter:edge"), "nitter", TAGS)[0].startswith(
        "image '${CI_REGISTRY_IMAGE")
    assert compose_problems(nitter.replace("target: /src/sessions.jsonl", "target: /tmp/s"), "nitter", TAGS) == \
        ["sessions.jsonl is not mounted"]
    without_redis = nitter.replace("image: redis:8.6-alpine", "image: valkey:8")
    assert compose_problems(without_redis, "nitter", {**TAGS, "valkey:8": {}}) == ["no Redis service"]
    assert compose_problems(nitter.replace("condition: service_healthy", "condition: service_started"),
                            "nitter", TAGS) == ["nitter does not wait for a healthy nitter-redis"]
    scribe = read("scribe", "compose.yaml")
    assert compose_problems(scribe.replace("${APP_DOMAIN:?", "${APP_DOMAIN:-"), "scribe", TAGS) == \
        ["APP_DOMAIN is not required (${APP_DOMAIN:?...})"]
    bibliogram = read("bibliogram", "compose.yaml")
    assert compose_problems(bibliogram.replace("bibliogram-db:/app/db", "bibliogram-db:/data"), "bibliogram",
                            TAGS) == ["no volume at /app/db"]


def test_a_readme_without_the_images_section_or_a_row_is_caught():
    readme = (PROJECT / "README.md").read_text()
    assert readme_problems(readme.replace("## Images", "## Pictures")) == ["no ## Images section"]
    assert readme_problems(readme.replace("| `rimgo` |", "| `rimg0` |")) == ["no row for rimgo"]
    assert readme_problems(readme.replace("| 10407 |", "| 8080 |"))[0].startswith("bibliogram: row")
    assert readme_problems(readme.replace("`SECRET_KEY_BASE`, ", "")) == \
        ["scribe: SECRET_KEY_BASE is not in its row"]
    moved = readme.replace("\n## Benchmarks\n", "\n## Elsewhere\n\nx\n\n## Benchmarks\n")
    assert readme_problems(moved) == ["## Images is followed by '## Elsewhere', not ## Benchmarks"]


def test_each_shipped_service_is_started_with_what_its_readme_row_requires():
    """The start check of each shipped service gives its required settings
    (test values), mounts its required files, and asks its port for HTTP;
    nitter's Redis is a companion, and every companion image is a listed tag."""
    for service in SERVICES:
        check = CATALOGUE[service]["start_check"]
        assert "skip" not in check, service
        given = set(check.get("env", {})) | {Path(target).name for target in check.get("files", {})}
        assert set(REQUIRED[service]) <= given, service
        assert str(check["http"]["port"]) == PORTS[service], service
        for source in check.get("files", {}).values():
            assert (PROJECT / source).is_file(), source
        for companion in check.get("companions", []):
            assert companion["image"] in TAGS, companion
    assert [c["image"].split(":")[0] for c in CATALOGUE["nitter"]["start_check"]["companions"]] == ["redis"]
