"""buildah: the images it publishes keep every instruction of their recipe
that a runtime reads. For each shipped recipe, a stand-in made of its final
stage's runtime instructions is built by the real pipeline with real
buildah, pushed to the registry, and its config read back, field by field;
the index is read by skopeo, podman and docker as consumers read it."""
from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest

from sandbox.readback import image_config
from tasks.builders import DroppedInstruction, run
from tasks.dockerfile import instructions

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = ("bibliogram", "scribe", "nitter", "redlib", "rimgo")
# What a runtime reads from an image, by the instruction that sets it.
RUNTIME = ("ARG", "LABEL", "ENV", "WORKDIR", "USER", "EXPOSE", "VOLUME", "STOPSIGNAL", "HEALTHCHECK",
           "ENTRYPOINT", "CMD", "SHELL", "ONBUILD")
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


def final_stage(text: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of the recipe's last stage."""
    lines = instructions(text)
    start = max(i for i, line in enumerate(lines) if line.split()[0].upper() == "FROM")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines[start + 1:]]


def stand_in(recipe: str) -> str:
    """The recipe's runtime instructions over the stand-ins' base image."""
    kept = [f"{name} {arguments}" for name, arguments in final_stage(recipe) if name in RUNTIME]
    return "\n".join(["ARG BASE_IMAGE", "FROM ${BASE_IMAGE}", *kept]) + "\n"


def nanoseconds(duration: str) -> int:
    hours, minutes, seconds, milliseconds = (int(n or 0) for n in DURATION.match(duration).groups())
    return ((hours * 60 + minutes) * 60 + seconds) * 10**9 + milliseconds * 10**6


def pairs(arguments: str, args: dict[str, str]) -> dict[str, str]:
    """KEY=value pairs of ENV or LABEL, quotes removed, ${ARG} expanded."""
    expanded = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), arguments)
    return dict(word.split("=", 1) for word in shlex.split(expanded))


def expected_config(recipe: str, build_args: dict[str, str]) -> dict[str, object]:
    """The image config fields the recipe's final stage sets, as Docker's
    builder writes them, by the instruction that sets each."""
    args: dict[str, str] = {}
    fields: dict[str, object] = {}
    for name, arguments in final_stage(recipe):
        if name == "ARG":
            key, _, default = arguments.partition("=")
            args[key] = build_args.get(key, default)
        elif name == "ENV":
            fields.setdefault("Env", {}).update(pairs(arguments, args))
        elif name == "LABEL":
            fields.setdefault("Labels", {}).update(pairs(arguments, args))
        elif name == "WORKDIR":
            fields["WorkingDir"] = str(Path(fields.get("WorkingDir", "/"), arguments))
        elif name == "USER":
            fields["User"] = arguments
        elif name == "EXPOSE":
            fields.setdefault("ExposedPorts", {}).update(
                {port if "/" in port else f"{port}/tcp": {} for port in arguments.split()})
        elif name == "VOLUME":
            fields.setdefault("Volumes", {}).update({path: {} for path in json.loads(arguments)})
        elif name == "STOPSIGNAL":
            fields["StopSignal"] = arguments
        elif name in ("ENTRYPOINT", "CMD"):
            fields[name.title()] = json.loads(arguments)
        elif name == "HEALTHCHECK":
            options = dict(re.findall(r"--([a-z-]+)=(\S+)", arguments))
            test = json.loads(arguments.split("CMD", 1)[1])
            check: dict[str, object] = {"Test": ["CMD", *test]}
            for option, key in (("interval", "Interval"), ("timeout", "Timeout"),
                                ("start-period", "StartPeriod"), ("retries", "Retries")):
                if option in options:
                    check[key] = int(options[option]) if option == "retries" else nanoseconds(options[option])
            fields["Healthcheck"] = check
    return fields


def differences(config: dict, expected: dict[str, object]) -> list[str]:
    """The fields of ``expected`` the image config does not carry as the
    recipe says, each named by its instruction."""
    instruction = {"Env": "ENV", "Labels": "LABEL", "WorkingDir": "WORKDIR", "User": "USER",
                   "ExposedPorts": "EXPOSE", "Volumes": "VOLUME", "StopSignal": "STOPSIGNAL",
                   "Healthcheck": "HEALTHCHECK", "Entrypoint": "ENTRYPOINT", "Cmd": "CMD"}
    found = []
    for key, value in expected.items():
        actual = config.get(key)
        if key == "Env":
            actual = dict(entry.split("=", 1) for entry in actual or ())
            value = dict(value)
        if isinstance(value, dict) and key != "Healthcheck":
            missing = {k: v for k, v in value.items() if (actual or {}).get(k) != v}
            if missing:
                found.append(f"{instruction[key]} {missing} (image: {actual})")
        elif actual != value:
            found.append(f"{instruction[key]} {value!r} (image: {actual!r})")
    return found


def test_final_stage_reading_sees_what_a_recipe_sets():
    recipe = ("FROM a AS build\nRUN x\nFROM b\nARG V=1\nLABEL x.y=\"v${V}\"\nENV A=1 B=\"two words\"\n"
              "WORKDIR /app\nWORKDIR src\nUSER 10:10\nEXPOSE 80 53/udp\nVOLUME [\"/d\"]\nSTOPSIGNAL SIGINT\n"
              "HEALTHCHECK --interval=1m --timeout=5s --start-period=30s \\\n  CMD [\"wget\", \"-q\"]\n"
              "ENTRYPOINT [\"/sbin/tini\", \"--\"]\nCMD [\"run\"]\n")
    assert expected_config(recipe, {"V": "2"}) == {
        "Labels": {"x.y": "v2"}, "Env": {"A": "1", "B": "two words"}, "WorkingDir": "/app/src", "User": "10:10",
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Volumes": {"/d": {}}, "StopSignal": "SIGINT",
        "Healthcheck": {"Test": ["CMD", "wget", "-q"], "Interval": 60 * 10**9, "Timeout": 5 * 10**9,
                        "StartPeriod": 30 * 10**9},
        "Entrypoint": ["/sbin/tini", "--"], "Cmd": ["run"]}
    assert "RUN" not in stand_in(recipe) and "HEALTHCHECK" in stand_in(recipe)


def test_every_runtime_instruction_of_each_recipe_reaches_the_published_config(make_sandbox, client):
    recipes = {name: (PROJECT / "Dockerfiles" / name / "Dockerfile").read_text() for name in SHIPPED}
    box = make_sandbox(names=SHIPPED, dockerfile={name: stand_in(recipe) for name, recipe in recipes.items()},
                       # The stand-ins have the recipes' health checks but none of their programs.
                       overrides={name: {"platforms": ["linux/amd64", "linux/arm64"],
                                         "start_check": {"skip": "a stand-in of the recipe's instructions only"}}
                                  for name in SHIPPED})
    box.doit()

    problems = {}
    for name, recipe in recipes.items():
        repository = f"{box.prefix}/{name}"
        index = client.manifest(repository, "latest")
        commit = index.json()["annotations"]["org.opencontainers.image.revision"]
        expected = expected_config(recipe, {"UPSTREAM_COMMIT": commit})
        # The build's own labels name the stand-in's upstream, over the recipe's.
        expected["Labels"].update({"org.opencontainers.image.source": box.upstreams[name].url,
                                   "org.opencontainers.image.revision": commit,
                                   "org.opencontainers.image.title": name})
        assert {"Healthcheck", "StopSignal", "User", "ExposedPorts", "Cmd"} <= set(expected), name
        for entry in index.json()["manifests"]:
            config = image_config(client, repository, entry["digest"], box.pull_authorization(repository))
            found = differences(config["config"], expected)
            if found:
                problems[f"{name} {entry['platform']['architecture']}"] = found
            assert config["architecture"] == entry["platform"]["architecture"]
    assert not problems, problems
    consumers_read_the_index(box, f"{box.prefix}/scribe")


def consumers_read_the_index(box, repository: str) -> None:
    """skopeo, podman and docker read the published index (OCI, listing
    Docker-format images) with every platform, and the health check."""
    user, password = box.env["CI_REGISTRY_USER"], box.env["CI_REGISTRY_PASSWORD"]
    auth = {"auths": {box.registry.host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    auth_file = box.directory / "consumer-auth.json"
    auth_file.write_text(json.dumps(auth))
    docker_config = box.directory / "docker-config"
    docker_config.mkdir(exist_ok=True)
    (docker_config / "config.json").write_text(json.dumps(auth))

    def read(*command: str) -> str:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        return result.stdout

    raw = json.loads(read("skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", str(auth_file),
                          f"docker://{repository}:latest"))
    assert {m["platform"]["architecture"] for m in raw["manifests"]} == {"amd64", "arm64"}
    for arch in ("amd64", "arm64"):
        config = json.loads(read("skopeo", "inspect", "--config", "--raw", "--tls-verify=false", "--authfile",
                                 str(auth_file), "--override-arch", arch, f"docker://{repository}:latest"))
        assert config["architecture"] == arch and config["config"]["Healthcheck"]["Test"][0] == "CMD"
    # (podman wants a run root of at most 50 characters)
    with tempfile.TemporaryDirectory(prefix="consumer-") as run_root:
        store = ["--root", str(box.directory / "consumer"), "--runroot", run_root, "--storage-driver", "vfs"]
        read("podman", *store, "pull", "--quiet", "--tls-verify=false", "--authfile", str(auth_file),
             "--arch", "arm64", f"{repository}:latest")
        inspected = json.loads(read("podman", *store, "image", "inspect", f"{repository}:latest"))[0]
    assert inspected["Architecture"] == "arm64"
    assert inspected["Healthcheck"]["Test"][0] == "CMD" and inspected["Config"]["StopSignal"] == "SIGINT"
    listed = json.loads(subprocess.run(["docker", "manifest", "inspect", "--insecure", f"{repository}:latest"],
                                       env={"DOCKER_CONFIG": str(docker_config), "PATH": "/usr/local/bin:/usr/bin:/bin"},
                                       capture_output=True, text=True, timeout=60, check=True).stdout)
    assert {m["platform"]["architecture"] for m in listed["manifests"]} == {"amd64", "arm64"}


def test_an_instruction_a_builder_drops_fails_the_build_with_its_name(tmp_path, base):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nSHELL [\"/bin/sh\", \"-c\"]\n"
                                        "HEALTHCHECK CMD [\"true\"]\nCMD [\"true\"]\n")
    store = ["--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run"), "--storage-driver", "vfs"]
    # An OCI-format build, as buildah makes by default: it warns and goes on.
    command = ["buildah", *store, "build", "--format", "oci", "--isolation", "chroot", "--tls-verify=false",
               "--tag", "dropped", str(context)]
    with pytest.raises(DroppedInstruction, match=r"buildah build left (HEALTHCHECK, SHELL|SHELL, HEALTHCHECK)"):
        run(command, "buildah build", {"PATH": "/usr/local/bin:/usr/bin:/bin"})
