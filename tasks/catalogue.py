"""The catalogue, ``services.yml``: its schema and its validation.

Every rule a catalogue must follow is checked here, before any task runs, and
every error names the file, the service and the field. Only commit-hash
writes to the catalogue (the ``published`` records).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

from . import engines
from .errors import ConfigurationError
from .registry import is_loopback

TOP_LEVEL_KEYS = {"image_prefix", "runner_tags", "services"}
REF_KINDS = ("branch", "tag", "tag_pattern")
SERVICE_KEYS = {"upstream", *REF_KINDS, "platforms", "dockerfile", "build_args", "attestations", "start_check",
                "published"}
PUBLISHED_KEYS = {"commit", "inputs", "bases"}
START_CHECK_KEYS = {"timeout", "env", "files", "companions", "http", "skip"}
COMPANION_KEYS = {"image", "env", "command"}
DEFAULT_START_TIMEOUT = 60
MAX_START_TIMEOUT = 3600
# A reference a container runtime pulls: [host[:port]/]path[:tag][@digest].
IMAGE_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._:/-]*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?"
                             r"(?:@sha256:[0-9a-f]{64})?")

# A registry path component (OCI distribution spec), kept lower case.
SERVICE_NAME = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
PLATFORM = re.compile(r"(?P<os>[a-z0-9]+)/(?P<arch>[a-z0-9]+)(?:/(?P<variant>v[0-9]+))?")
KNOWN_OS = {"linux", "windows", "freebsd"}
KNOWN_ARCH = {"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")   # a build argument's or an environment variable's
COMMIT = re.compile(r"[0-9a-f]{40}")
INPUTS = re.compile(r"[0-9a-f]{12,64}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# host[:port]/path, the part of an image reference before ':tag'.
IMAGE_PREFIX = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]+)?|\[[0-9a-f:]+\](?::[0-9]+)?)"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
REF_NAME = re.compile(r"[A-Za-z0-9._/-]+")
UPSTREAM_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
# ssh's scp-like form, for the user git (a forge's; no secret)
SCP_LIKE_URL = re.compile(r"git@[A-Za-z0-9.-]+:[A-Za-z0-9~._/-]+")


class CatalogueError(ConfigurationError):
    """A catalogue that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Record:
    """What services.yml records of a service's last complete publish: the
    upstream commit, the build inputs, and the digests of its base images."""
    commit: str
    inputs: str
    bases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Companion:
    """A container the service needs beside it at start (nitter's Redis)."""
    image: str
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartCheck:
    """How a platform image is started and checked before it may enter an
    index: what its start needs, what must answer, and for how long to
    wait. ``skip`` (a reason) turns the check off."""
    timeout: int = DEFAULT_START_TIMEOUT       # seconds to turn healthy or answer
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, Path], ...] = ()    # path in the container -> file in the repository
    companions: tuple[Companion, ...] = ()
    http: tuple[int, str] | None = None         # port and path that must answer 2xx or 3xx
    skip: str | None = None

    def digest(self) -> str:
        """The settings and the files' contents: a failure remembered for
        one check is no reason to hold back another."""
        settings = {"timeout": self.timeout, "env": self.env, "companions": [
            (c.image, c.env, c.command) for c in self.companions], "http": self.http, "skip": self.skip,
            "files": [(target, hashlib.sha256(source.read_bytes()).hexdigest()) for target, source in self.files]}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Service:
    """One service of the catalogue, validated."""
    name: str
    upstream: str
    ref_kind: str              # "branch", "tag" or "tag_pattern"
    ref: str
    platforms: tuple[str, ...]
    dockerfile: Path           # absolute
    build_args: tuple[tuple[str, str], ...]
    published: Record | None = None
    attestations: bool = True
    start_check: StartCheck = field(default_factory=StartCheck)

    @property
    def ignore_file(self) -> Path | None:
        """The recipe's ``<Dockerfile>.dockerignore``, when it has one."""
        path = self.dockerfile.with_name(self.dockerfile.name + ".dockerignore")
        return path if path.is_file() else None


@dataclass(frozen=True)
class Catalogue:
    path: Path
    image_prefix: str
    services: tuple[Service, ...]
    # CI runner tags per engine and platform, for jobs fanned out to native
    # runners: (engine, platform, tags).
    runner_tags: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def tags_for(self, platform: str, engine: str) -> list[str]:
        return next((list(tags) for name, each, tags in self.runner_tags if (name, each) == (engine, platform)), [])

    def image(self, service: Service) -> str:
        """The repository the service's images are pushed to."""
        return f"{self.image_prefix}/{service.name}"


def load(path: Path, environ: Mapping[str, str]) -> Catalogue:
    """Read and validate the catalogue at ``path``, with ``${VARIABLE}``
    taken from ``environ``; raise CatalogueError."""
    path = Path(path).resolve()
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise CatalogueError(f"{path.name}: cannot read the catalogue: {error.strerror}") from None
    except UnicodeDecodeError as error:
        line = path.read_bytes()[:error.start].count(b"\n") + 1
        raise CatalogueError(f"{path.name}: line {line}: not UTF-8 text (byte 0x{error.object[error.start]:02x}); "
                             "save the catalogue as UTF-8") from None
    try:
        # The C-backed safe loader: the round trip is needed only to write.
        document = YAML(typ="safe").load(text)
    except DuplicateKeyError as error:
        key = re.search(r'duplicate key "([^"]*)"', error.problem or "")
        raise CatalogueError(f"{path.name}: line {error.problem_mark.line + 1}: "
                             f"'{key.group(1) if key else '?'}' is defined twice; "
                             "each service (and each field) may appear once") from None
    except YAMLError as error:
        raise CatalogueError(f"{path.name}: not valid YAML: {error}") from None
    return validate(document, path, environ)


def validate(document: object, path: Path, environ: Mapping[str, str]) -> Catalogue:
    where = path.name
    if not isinstance(document, dict):
        raise CatalogueError(f"{where}: the catalogue must be a mapping with 'image_prefix' and 'services'")
    unknown = set(document) - TOP_LEVEL_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown top-level key(s) {_names(unknown)}; "
                             f"accepted: {_names(TOP_LEVEL_KEYS)}")
    # (what ${NAME} may name there is the CI engine's: tasks.engines)
    prefix = _image_prefix(document.get("image_prefix"), where, engines.select(environ).prefix_variables())
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        raise CatalogueError(f"{where}: field 'services' must be a non-empty mapping of service name to settings")
    repo_root = path.parent
    return Catalogue(path=path, image_prefix=prefix,
                     services=tuple(_service(str(name), settings, where, repo_root,
                                             environ.get("PRIVACY_OCI_LOCAL_UPSTREAMS") == "true")
                                    for name, settings in services.items()),
                     runner_tags=_runner_tags(document.get("runner_tags"), f"{where}: field 'runner_tags'"))


def _runner_tags(value: object, field: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """Per CI engine (tasks.engines.NAMES), a platform's runner tags; a
    mapping of platforms alone is the one engine's that there was before
    the others."""
    if value is None:
        return ()
    example = "e.g. {gitlab: {linux/arm64: [saas-linux-small-arm64]}, github: {linux/arm64: [ubuntu-24.04-arm]}}"
    if not isinstance(value, dict):
        raise CatalogueError(f"{field} must map a CI engine to its runner tags per platform, {example}")
    if not set(value) & set(engines.NAMES):
        value = {engines.UNQUALIFIED_RUNNER_TAGS: value}
    tags = []
    for engine, platforms in value.items():
        if engine not in engines.NAMES:
            raise CatalogueError(f"{field}: {engine!r} is not a CI engine; use one of {', '.join(engines.NAMES)}")
        if not isinstance(platforms, dict):
            raise CatalogueError(f"{field}: {engine} must map a platform to a list of runner tags, {example}")
        for platform, names in platforms.items():
            _check_platform(platform, field)
            if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
                raise CatalogueError(f"{field}: {platform} must have a list of runner tag names")
            tags.append((engine, platform, tuple(names)))
    return tuple(tags)


def _image_prefix(value: object, where: str, environ: Mapping[str, str]) -> str:
    field = f"{where}: field 'image_prefix'"
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{field} must be a registry path such as "
                             "'registry.example.org/group/project' or '${CI_REGISTRY_IMAGE}'")
    used = ENV_REFERENCE.findall(value)
    unknown = [name for name in used if name not in environ]
    if unknown:
        raise CatalogueError(f"{field}: ${{{unknown[0]}}} may not be used there; an image prefix may name only "
                             f"{', '.join('${' + name + '}' for name in environ)}")
    missing = [name for name in used if not environ.get(name)]
    if missing:
        raise CatalogueError(f"{field}: environment variable {missing[0]} is not set (it is used in {value!r})")
    expanded = ENV_REFERENCE.sub(lambda match: environ[match.group(1)], value.strip()).rstrip("/")
    if not IMAGE_PREFIX.fullmatch(expanded):
        # (the template, never the values: a variable may hold anything)
        made = f" once {', '.join(used)} {'is' if len(used) == 1 else 'are'} put in" if used else ""
        raise CatalogueError(f"{field}: {value!r} is not a valid image reference prefix{made} "
                             "(lower-case host[:port]/path, no tag)")
    return expanded


def _service(name: str, settings: object, where: str, repo_root: Path, local: bool) -> Service:
    at = f"{where}: service '{name}'"
    if not SERVICE_NAME.fullmatch(name):
        raise CatalogueError(f"{at}: invalid service name; use lower-case letters, digits "
                             "and single '.', '_' or '-' separators (it becomes an image name)")
    if not isinstance(settings, dict):
        raise CatalogueError(f"{at}: settings must be a mapping with at least 'upstream', "
                             "'branch' or 'tag', and 'platforms'")
    unknown = set(settings) - SERVICE_KEYS
    if unknown:
        raise CatalogueError(f"{at}: unknown field(s) {_names(unknown)}; accepted: {_names(SERVICE_KEYS)}")

    upstream = check_git_url(settings.get("upstream"), f"{at}: field 'upstream'", local)

    refs = [kind for kind in REF_KINDS if kind in settings]
    if len(refs) != 1:
        raise CatalogueError(f"{at}: give exactly one of the fields 'branch', 'tag' or 'tag_pattern' "
                             "(the upstream ref to track)")
    ref_kind = refs[0]
    ref = settings[ref_kind]
    if ref_kind == "tag_pattern":
        _check_tag_pattern(ref, f"{at}: field 'tag_pattern'")
    elif not isinstance(ref, str) or not REF_NAME.fullmatch(ref) or ref.startswith(("-", "/")) or ".." in ref:
        raise CatalogueError(f"{at}: field '{ref_kind}' must be a git {ref_kind} name, got {ref!r}")

    platforms = settings.get("platforms")
    if not isinstance(platforms, list) or not platforms:
        raise CatalogueError(f"{at}: field 'platforms' must be a non-empty list such as [linux/amd64, linux/arm64]")
    for platform in platforms:
        _check_platform(platform, f"{at}: field 'platforms'")
    if len(set(platforms)) != len(platforms):
        raise CatalogueError(f"{at}: field 'platforms' lists a platform twice")

    dockerfile = _repository_file(settings.get("dockerfile", f"Dockerfiles/{name}/Dockerfile"),
                             f"{at}: field 'dockerfile'", repo_root)
    build_args = _build_args(settings.get("build_args", {}), f"{at}: field 'build_args'")
    attestations = settings.get("attestations", True)
    if not isinstance(attestations, bool):
        raise CatalogueError(f"{at}: field 'attestations' must be true or false")
    return Service(name=name, upstream=upstream, ref_kind=ref_kind, ref=ref,
                   platforms=tuple(platforms), dockerfile=dockerfile, build_args=build_args,
                   published=parse_record(settings.get("published"), f"{at}: field 'published'"),
                   attestations=attestations,
                   start_check=_start_check(settings.get("start_check"), f"{at}: field 'start_check'", repo_root))


def check_git_url(value: object, field: str, local: bool = False) -> str:
    """``value`` as a git repository URL that is safe to hand to git and to
    show: no user information (a token as a URL's user would land in
    labels, reports and logs), encryption unless the repository is on this
    machine, and ``file://`` only where ``local`` repositories are allowed
    (PRIVACY_OCI_LOCAL_UPSTREAMS=true, for tests and demos)."""
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{field} must be the upstream git repository URL")
    url = value.strip()
    parts = urlsplit(url) if "://" in url else None
    if parts is not None and "@" in parts.netloc and not (parts.scheme == "ssh" and parts.netloc.startswith("git@")):
        raise CatalogueError(f"{field}: the URL carries user information (a user name or a token); it would "
                             "show in labels, reports and logs. Use the public URL: a token for the catalogue's "
                             "own remote goes in PRIVACY_OCI_GIT_TOKEN")
    if url.startswith("-") or "::" in url or any(c.isspace() or ord(c) < 32 for c in url):
        raise CatalogueError(f"{field}: {url!r} is not a repository URL git may be given "
                             "(no leading '-', no '::' transports, no spaces)")
    if parts is None:
        if SCP_LIKE_URL.fullmatch(url):
            return url
        raise CatalogueError(f"{field}: {url!r} must start with one of {', '.join(UPSTREAM_SCHEMES)} "
                             "or be git@host:path")
    if parts.scheme + "://" not in UPSTREAM_SCHEMES:
        raise CatalogueError(f"{field}: {url!r} must start with one of {', '.join(UPSTREAM_SCHEMES)} "
                             "or be git@host:path")
    if parts.scheme in ("http", "git") and not is_loopback(parts.netloc):
        raise CatalogueError(f"{field}: {url!r} is not encrypted: {parts.scheme}:// is for a repository on this "
                             "machine only; use https:// or ssh://")
    if parts.scheme == "file" and not local:
        raise CatalogueError(f"{field}: {url!r} is a repository on this machine: allowed only with "
                             "PRIVACY_OCI_LOCAL_UPSTREAMS=true (for tests and demos)")
    return url


def _check_tag_pattern(pattern: object, field: str) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise CatalogueError(f"{field} must be 'semver' or a regular expression for tag names")
    if pattern != "semver":
        try:
            re.compile(pattern)
        except re.error as error:
            raise CatalogueError(f"{field}: {pattern!r} is not a regular expression: {error}") from None


def _check_platform(platform: object, field: str) -> None:
    match = PLATFORM.fullmatch(platform) if isinstance(platform, str) else None
    if not match or match["os"] not in KNOWN_OS or match["arch"] not in KNOWN_ARCH:
        raise CatalogueError(f"{field}: {platform!r} is not a platform; use os/arch[/variant] "
                             f"with os in {_names(KNOWN_OS)} and arch in {_names(KNOWN_ARCH)}")


def _repository_file(value: object, field: str, repo_root: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{field} must be a path relative to the repository")
    candidate = Path(value)
    resolved = (repo_root / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(repo_root.resolve()):
        raise CatalogueError(f"{field}: {value!r} is outside the repository; "
                             "give a path relative to the repository")
    if not resolved.is_file():
        raise CatalogueError(f"{field}: {value!r} does not exist")
    return resolved


def _start_check(value: object, field: str, repo_root: Path) -> StartCheck:
    if value is None:
        return StartCheck()
    if not isinstance(value, dict):
        raise CatalogueError(f"{field} must be a mapping: timeout, env, files, companions, http, or skip (a reason)")
    unknown = set(value) - START_CHECK_KEYS
    if unknown:
        raise CatalogueError(f"{field}: unknown field(s) {_names(unknown)}; accepted: {_names(START_CHECK_KEYS)}")
    if "skip" in value:
        reason = value["skip"]
        if not isinstance(reason, str) or not reason.strip() or len(value) > 1:
            raise CatalogueError(f"{field}: 'skip' turns the check off and stands alone, with the reason why "
                                 "(e.g. skip: \"a CLI that needs its input\")")
        return StartCheck(skip=_single_line(reason.strip(), f"{field}: 'skip'"))
    timeout = value.get("timeout", DEFAULT_START_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_START_TIMEOUT:
        raise CatalogueError(f"{field}: 'timeout' must be a whole number of seconds from 1 to {MAX_START_TIMEOUT}")
    http = value.get("http")
    if http is not None:
        if not isinstance(http, dict) or set(http) - {"port", "path"} or "port" not in http:
            raise CatalogueError(f"{field}: 'http' must be {{port: 8080, path: /}} (path optional)")
        port, path = http["port"], http.get("path", "/")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise CatalogueError(f"{field}: 'http' port must be a number from 1 to 65535")
        if not isinstance(path, str) or not re.fullmatch(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*", path):
            raise CatalogueError(f"{field}: 'http' path must start with '/' and be a URL path")
        http = (port, path)
    companions = value.get("companions", [])
    if not isinstance(companions, list):
        raise CatalogueError(f"{field}: 'companions' must be a list of {{image: …, env: …}}")
    return StartCheck(timeout=timeout, env=_environment(value.get("env"), f"{field}: 'env'"),
                      files=_files(value.get("files"), f"{field}: 'files'", repo_root), http=http,
                      companions=tuple(_companion(c, f"{field}: companion {i + 1}") for i, c in enumerate(companions)))


def _companion(value: object, field: str) -> Companion:
    if not isinstance(value, dict) or "image" not in value or set(value) - COMPANION_KEYS:
        raise CatalogueError(f"{field} must be a mapping with 'image' and optional 'env', 'command'")
    image = value["image"]
    if not isinstance(image, str) or not IMAGE_REFERENCE.fullmatch(image):
        raise CatalogueError(f"{field}: 'image' must be an image reference such as redis:8.6-alpine")
    command = value.get("command", [])
    if not isinstance(command, list) or not all(isinstance(word, str) for word in command):
        raise CatalogueError(f"{field}: 'command' must be a list of strings")
    return Companion(image=image, env=_environment(value.get("env"), f"{field}: 'env'"),
                     command=tuple(_single_line(word, f"{field}: 'command'") for word in command))


def _environment(value: object, field: str) -> tuple[tuple[str, str], ...]:
    return _settings(value, field, "an environment variable name")


def _files(value: object, field: str, repo_root: Path) -> tuple[tuple[str, Path], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise CatalogueError(f"{field} must map a path in the container to a file in the repository")
    files = []
    for target, source in value.items():
        if not isinstance(target, str) or not re.fullmatch(r"/[A-Za-z0-9._/-]+", target) or ".." in target:
            raise CatalogueError(f"{field}: {target!r} is not an absolute path in the container")
        files.append((target, _repository_file(source, f"{field}: {target}", repo_root)))
    return tuple(files)


def _single_line(value: str, field: str) -> str:
    if "\n" in value or "\r" in value or "\0" in value:
        raise CatalogueError(f"{field} must be a single line")
    return value


def _build_args(value: object, field: str) -> tuple[tuple[str, str], ...]:
    return _settings(value, field, "a build-arg name (letters, digits, '_')")


def _settings(value: object, field: str, what: str) -> tuple[tuple[str, str], ...]:
    """NAME: value pairs (build arguments, environment variables), each
    value a single line."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise CatalogueError(f"{field} must be a mapping of NAME: value")
    pairs = []
    for name, setting in value.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise CatalogueError(f"{field}: {name!r} is not {what}")
        if isinstance(setting, bool) or not isinstance(setting, (str, int, float)):
            raise CatalogueError(f"{field}: {name} must be a string or number")
        pairs.append((name, _single_line(str(setting), f"{field}: {name}")))
    return tuple(pairs)


def parse_record(value: object, field: str) -> Record | None:
    """The ``published`` field of a service, as commit-hash writes it."""
    if value is None:
        return None
    if not isinstance(value, dict) or not {"commit", "inputs"} <= set(value) <= PUBLISHED_KEYS:
        raise CatalogueError(f"{field} is written by commit-hash and holds 'commit', 'inputs' "
                             "and 'bases'; remove it to rebuild the service")
    commit, inputs, bases = value["commit"], value["inputs"], value.get("bases") or {}
    if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
        raise CatalogueError(f"{field}: 'commit' must be a full 40-character commit id")
    if not isinstance(inputs, str) or not INPUTS.fullmatch(inputs):
        raise CatalogueError(f"{field}: 'inputs' must be a hex digest")
    if not isinstance(bases, dict) or not all(isinstance(d, str) and DIGEST.fullmatch(d) for d in bases.values()):
        raise CatalogueError(f"{field}: 'bases' must map base images to sha256 digests")
    return Record(commit, inputs, tuple((str(image), digest) for image, digest in bases.items()))


def _names(keys: Iterable[object]) -> str:
    return ", ".join(sorted(map(str, keys)))
