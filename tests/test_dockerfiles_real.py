"""The recipes' own steps, run for real where this machine can run them.

redlib (marked ``real``: it downloads Debian packages, a few minutes the
first time): the build stage's instructions run in a Debian bookworm root
made like its rust slim image (``sandbox.debian_root``), once per
TARGETARCH, with stand-ins only for rustup and cargo (they need the
internet), which record their calls and environment. With the environment
cargo was given, what BoringSSL's build (boring-sys2) calls is then made to
work: cmake configures, with the generator the cmake crate leaves it (CMake's
default unless CMAKE_GENERATOR is set), and builds a static library of C,
C++ and assembler sources with the C and C++ compilers boring-sys hands it
(``CC_<target>``, ``CXX_<target>``), cross-compiling as boring-sys does for
another target; the linker cargo was given links it with ``-lstdc++`` into a
program that runs (arm64 under QEMU); libclang, which bindgen loads, parses
libc headers for the target. The final stage's instructions then run in a
bookworm minbase root (debian:bookworm-slim is made from one), and the
program runs there as the image's user, with the health check's program
present.

nitter and redlib: the build context as buildah makes it from a shallow
checkout, through the recipe's ignore file, answers the git commands the
upstream builds run for their version line, and does not carry the upstream
URL git wrote into FETCH_HEAD."""
from __future__ import annotations

import json
import os
import posixpath
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from test_dockerfiles import GIT_READERS, PROJECT, Stage, commands, of, read, split, stages

from sandbox.buildah_store import BuildahStore
from sandbox.debian_root import RUST_ENV, RUST_SLIM_PACKAGES, Root, image_tar
from sandbox.upstreams import Upstream
from tasks.git import shallow_checkout

# The real tier: Debian roots, buildah.
pytestmark = pytest.mark.real

# The rust image's host triple, by the Debian architecture of its platform.
RUST_HOST = {"amd64": "x86_64-unknown-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}
# What CMake's generators run. The cmake crate (rust-lang/cmake-rs v0.1.58,
# 99b02100, src/lib.rs) passes -G only from CMAKE_GENERATOR; else CMake takes
# its default, Unix Makefiles.
GENERATOR_PROGRAMS = {"Unix Makefiles": "make", "Ninja": "ninja"}
# BoringSSL's build beside the compilers: git applies boring-sys's patches.
BUILD_TOOLS = ("cmake", "git", "perl")

# Stand-ins for rustup and cargo: they record the call; cargo also its
# environment, and leaves the binary a build would leave.
RUSTUP = """#!/bin/sh
echo "rustup $*" >> /shim/calls
"""
CARGO = """#!/bin/sh
echo "cargo $*" >> /shim/calls
env > /shim/cargo.env
target=
while [ $# -gt 0 ]; do [ "$1" = --target ] && target=$2; shift; done
mkdir -p "target/$target/release" && : > "target/$target/release/redlib"
"""

# A project of BoringSSL's shape: one static library of C, C++ and
# assembler, with libc and libstdc++ headers; main.c stands for rustc's code.
PROJECT_FILES = {
    "CMakeLists.txt": "cmake_minimum_required(VERSION 3.10)\nproject(shape C CXX ASM)\n"
                      "add_library(shape STATIC part.c part.cc part.S)\n",
    "part.c": "#include <stdint.h>\n#include <stdio.h>\n#include <sys/types.h>\n"
              "int c_part(void) { return (int)sizeof(uint64_t); }\n",
    "part.cc": "#include <string>\n#include <vector>\n#include <stdexcept>\n"
               'extern "C" int cxx_part(void) {\n'
               '  std::vector<std::string> words{"a", "bc"};\n  std::string joined;\n'
               "  for (const auto &word : words) joined += word;\n"
               "  try { throw std::runtime_error(joined); }\n"
               "  catch (const std::exception &e) { return (int)std::string(e.what()).size(); }\n}\n",
    "part.S": ".text\n.globl asm_part\n.type asm_part, %function\nasm_part:\nret\n"
              '.section .note.GNU-stack,"",%progbits\n',
    "main.c": "#include <stdio.h>\nint c_part(void);\nint cxx_part(void);\nvoid asm_part(void);\n"
              'int main(void) { asm_part(); printf("shape %d %d\\n", c_part(), cxx_part()); return 0; }\n',
    # libc headers, of the kind BoringSSL's public headers include.
    "headers.h": "#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n"
                 "#include <sys/types.h>\n#include <time.h>\n#include <pthread.h>\n",
    # bindgen's part: libclang parses a header for the target; any error fails.
    "probe.c": "#include <clang-c/Index.h>\n#include <stdio.h>\n"
               "int main(int argc, char **argv) {\n"
               "  CXIndex index = clang_createIndex(0, 0);\n"
               "  CXTranslationUnit unit = clang_parseTranslationUnit(index, argv[1],\n"
               "      (const char *const *)argv + 2, argc - 2, NULL, 0, CXTranslationUnit_None);\n"
               '  if (!unit) { puts("libclang: no translation unit"); return 2; }\n'
               "  int errors = 0;\n"
               "  for (unsigned i = 0; i < clang_getNumDiagnostics(unit); i++) {\n"
               "    CXDiagnostic diagnostic = clang_getDiagnostic(unit, i);\n"
               "    if (clang_getDiagnosticSeverity(diagnostic) >= CXDiagnostic_Error) {\n"
               "      CXString text = clang_formatDiagnostic(diagnostic, clang_defaultDiagnosticDisplayOptions());\n"
               '      printf("%s\\n", clang_getCString(text));\n'
               "      clang_disposeString(text);\n      errors++;\n    }\n"
               "    clang_disposeDiagnostic(diagnostic);\n  }\n  return errors ? 1 : 0;\n}\n",
}
# What boring-sys2's cmake/aarch64-linux.cmake sets for an aarch64 Linux
# target (0x676e67/boring2 v5.0.0-alpha.13, the Cargo.lock version): the
# system; the compilers come from the environment.
AARCH64_TOOLCHAIN = "set(CMAKE_SYSTEM_NAME Linux)\nset(CMAKE_SYSTEM_PROCESSOR aarch64)\n"
# The context files the build stage copies; their content does not matter here.
STAND_IN_CONTEXT = {"Cargo.toml": "", "Cargo.lock": "", "build.rs": "", "src/main.rs": ""}


def stand_in_tar(image: str) -> Path:
    """The Debian root an image of a recipe is stood in for by."""
    name, _, tag = image.partition(":")
    if name == "debian" and tag.startswith(("bookworm", "12")) and tag.endswith("-slim"):
        return image_tar()
    if name == "rust" and tag.endswith("-slim-bookworm"):
        return image_tar(RUST_SLIM_PACKAGES)
    raise AssertionError(f"no Debian bookworm stand-in for FROM {image}: teach tests/test_dockerfiles_real.py")


def run_stage(root: Root, stage: Stage, env: dict[str, str], context: Path | None = None,
              stage_roots: dict[str, Root] | None = None) -> tuple[dict[str, str], str]:
    """The stage's instructions in ``root``, as a builder runs them; returns
    the environment and the user the stage ends with."""
    env = dict(env)
    workdir, user = "/", "0:0"
    for line in stage.lines:
        keyword, flags, arguments = split(line)
        if keyword == "ARG":
            name, _, default = arguments[0].partition("=")
            env.setdefault(name, default)
        elif keyword == "ENV":
            env.update(argument.split("=", 1) for argument in arguments)
        elif keyword == "WORKDIR":
            workdir = posixpath.join(workdir, arguments[0])
            root.file(workdir).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, destination = arguments
            destination = posixpath.join(workdir, destination)
            origin = stage_roots[flags["from"]].path if "from" in flags else context
            for source in sources:
                copy(origin / source.lstrip("/"), root.file(destination),
                     into=destination.endswith(("/", ".")) or len(sources) > 1)
        elif keyword == "RUN":
            root.run(line.split(" ", 1)[1], env, cwd=workdir)
        elif keyword == "USER":
            user = arguments[0]
        elif keyword not in ("LABEL", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "CMD", "ENTRYPOINT", "VOLUME"):
            raise AssertionError(f"{keyword}: this test does not know what to do with it")
    return env, user


def copy(source: Path, destination: Path, into: bool) -> None:
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True, symlinks=True)
        return
    if into:
        destination.mkdir(parents=True, exist_ok=True)
        destination = destination / source.name
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, destination)


def install_stand_ins(root: Root, rust_env: dict[str, str]) -> None:
    bin_dir = root.file(rust_env["CARGO_HOME"]) / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, script in (("rustup", RUSTUP), ("cargo", CARGO)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    root.file("/shim").mkdir()


def parse_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def first(env: dict[str, str], *names: str) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


def build_with_the_toolchain(root: Root, target: str, host: str,
                             cargo_env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """What boring-sys, the cmake crate and rustc do with the environment
    cargo was given: the program linked, and the environment it runs with."""
    underscored = target.replace("-", "_")
    cross = target != host
    # boring-sys2 build/config.rs (cross) and cc-rs for the cmake crate
    # (native) take CC_<target>, CC_<target_underscored>, then TARGET_CC
    # (HOST_CC when host == target); the same for CXX. The recipe sets them.
    scope = "TARGET" if cross else "HOST"
    cc = first(cargo_env, f"CC_{target}", f"CC_{underscored}", f"{scope}_CC")
    cxx = first(cargo_env, f"CXX_{target}", f"CXX_{underscored}", f"{scope}_CXX")
    problems = [f"cargo gets no {kind}_{underscored}: cc-rs would guess the {kind} compiler"
                for kind, compiler in (("CC", cc), ("CXX", cxx)) if not compiler]
    linker = cargo_env.get(f"CARGO_TARGET_{underscored.upper()}_LINKER", "cc")
    archiver = cargo_env.get(f"AR_{underscored}", f"{target.split('-')[0]}-linux-gnu-ar" if cross else "ar")
    generator = cargo_env.get("CMAKE_GENERATOR", "Unix Makefiles")
    programs = [program for program in (cc, cxx, linker, archiver, GENERATOR_PROGRAMS[generator], *BUILD_TOOLS)
                if program]
    found = root.run("for p in " + " ".join(map(shlex.quote, programs))
                     + '; do command -v "$p" >/dev/null || echo "$p is missing"; done', cargo_env)
    problems += found.stdout.splitlines()
    assert problems == [], f"for {target}: " + "; ".join(problems)

    check = root.file("/check")
    for name, content in PROJECT_FILES.items():
        (check / "project" / name).parent.mkdir(parents=True, exist_ok=True)
        (check / "project" / name).write_text(content)
    # The cmake crate: the compilers, and cc-rs's flags for the target.
    flags = "-ffunction-sections -fdata-sections -fPIC" + (" -m64" if target.startswith("x86_64-") else "")
    defines = [f"-DCMAKE_C_COMPILER={cc}", f"-DCMAKE_CXX_COMPILER={cxx}", "-DCMAKE_BUILD_TYPE=Release",
               *(f"-DCMAKE_{lang}_FLAGS={flags}" for lang in ("C", "CXX", "ASM"))]
    if cross:   # boring-sys2 build/main.rs, get_boringssl_cmake_config
        defines += ["-DCMAKE_CROSSCOMPILING=true", *(f"-DCMAKE_{lang}_COMPILER_TARGET={target}"
                                                       for lang in ("C", "CXX", "ASM"))]
        if target.startswith("aarch64-"):
            (check / "aarch64-linux.cmake").write_text(AARCH64_TOOLCHAIN)
            defines.append("-DCMAKE_TOOLCHAIN_FILE=/check/aarch64-linux.cmake")
    root.run(f"cmake -S /check/project -B /check/build {' '.join(map(shlex.quote, defines))}"
             " && cmake --build /check/build --target shape"
             f" && {shlex.quote(cc)} -c /check/project/main.c -o /check/main.o"
             f" && {shlex.quote(linker)} /check/main.o /check/build/libshape.a -lstdc++ -o /check/program",
             cargo_env)
    # bindgen runs on the build machine and passes --target to libclang.
    probe = root.run("llvm=$(ls -d /usr/lib/llvm-*/include/clang-c | head -n 1); llvm=${llvm%/include/clang-c};"
                     ' gcc /check/project/probe.c -I"$llvm/include" -L"$llvm/lib" -lclang'
                     ' -Wl,-rpath,"$llvm/lib" -o /check/probe'
                     f" && /check/probe /check/project/headers.h --target={target}", cargo_env, check=False)
    assert probe.returncode == 0, f"libclang cannot parse libc headers for {target}:\n{probe.stdout}{probe.stderr}"
    # A program for another architecture runs under QEMU, its libraries from the cross sysroot.
    run_env = {**cargo_env, "QEMU_LD_PREFIX": f"/usr/{target.split('-')[0]}-linux-gnu"} if cross else cargo_env
    return "/check/program", run_env


def needed(root: Root, program: str) -> list[str]:
    dynamic = root.run(f"readelf -d {program}").stdout
    return [line.split("[", 1)[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]


@pytest.mark.long
@pytest.mark.parametrize("targetarch", ["amd64", "arm64"])
def test_redlib_builds_boringssl_with_what_its_build_stage_installs(targetarch, tmp_path):
    text = read("redlib", "Dockerfile")
    all_stages = stages(text)
    build = next(stage for stage in all_stages if any("cargo build" in line for line in stage.lines))
    final = all_stages[-1]
    context = tmp_path / "context"
    for name, content in STAND_IN_CONTEXT.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(content)

    with Root(stand_in_tar(build.image)) as root:
        host_arch = root.run("dpkg --print-architecture").stdout.strip()
        install_stand_ins(root, RUST_ENV)
        run_stage(root, build, {**RUST_ENV, "TARGETARCH": targetarch, "BUILDPLATFORM": f"linux/{host_arch}",
                                "TARGETPLATFORM": f"linux/{targetarch}"}, context)
        calls = root.file("/shim/calls").read_text().splitlines()
        targets = {call.split("--target ", 1)[1].split()[0] for call in calls
                   if call.startswith("cargo build") and "--target " in call}
        assert len(targets) == 1, f"cargo build is not called with one --target: {calls}"
        target = targets.pop()
        assert target.startswith(RUST_HOST[targetarch].split("-")[0] + "-"), f"{target} for {targetarch}"
        assert f"rustup target add {target}" in calls, calls
        cargo_env = parse_env(root.file("/shim/cargo.env").read_text())

        program, run_env = build_with_the_toolchain(root, target, RUST_HOST[host_arch], cargo_env)
        assert root.run(program, run_env).stdout == "shape 8 3\n"
        linked = needed(root, program)
        assert "libstdc++.so.6" in linked, linked
        shutil.copy2(root.file(program), root.file("/redlib"))   # what the build stage's last step copies

        with Root(stand_in_tar(final.image)) as runtime:
            _, user = run_stage(runtime, final, {}, stage_roots={build.name: root})
            # The same packages on every architecture: the names tell for arm64 too.
            libraries = set(runtime.run("ls /usr/lib/*-linux-gnu/").stdout.split())
            assert [name for name in linked if name not in libraries] == [], "the final image lacks them"
            for _, _, line in of(final, "HEALTHCHECK"):
                command = line.split(" CMD ", 1)[1].strip()
                program_name = commands(json.loads(command) if command.startswith("[") else shlex.split(command))[0]
                runtime.run(f"command -v {shlex.quote(program_name)}", user=user)
            if targetarch == host_arch:
                assert runtime.run("redlib", user=user).stdout == "shape 8 3\n"


# --- the version line: git in the build context -----------------------------

# The commands each upstream build runs in its checkout, read at the commits
# of Dockerfiles/<service>/upstream-files.txt: nitter's src/views/about.nim
# (staticExec at compile time) and redlib's build.rs.
VERSION_COMMANDS = {
    "nitter": [["git", "show", "-s", "--format=%cd", "--date=format:%Y.%m.%d"], ["git", "show", "-s", "--format=%h"]],
    "redlib": [["git", "rev-parse", "HEAD"]],
}


def test_every_build_that_reads_git_is_run_here():
    assert sorted(VERSION_COMMANDS) == sorted(GIT_READERS)


@pytest.mark.parametrize("service", sorted(VERSION_COMMANDS))
def test_the_build_context_answers_the_upstream_version_commands(service, tmp_path):
    upstream = Upstream(tmp_path / "upstream")
    upstream.commit({"README": "one"}, "first")
    commit = upstream.commit({"README": "two"}, "second")
    checkout = tmp_path / "checkout"
    shallow_checkout(upstream.url, commit, checkout, {"PATH": "/usr/bin:/bin"})
    expected = [subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=True,
                               env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)}).stdout
                for command in VERSION_COMMANDS[service]]
    url = upstream.url.removesuffix(".git")   # as git writes it into FETCH_HEAD
    assert expected[-1].strip() and url in (checkout / ".git" / "FETCH_HEAD").read_text()

    store = BuildahStore(tmp_path / "buildah")
    try:
        recipe = tmp_path / "Containerfile"
        recipe.write_text("FROM scratch\nCOPY . /context/\n")
        store("build", "--isolation", "chroot", "--ignorefile",
              str(PROJECT / "Dockerfiles" / service / "Dockerfile.dockerignore"),
              "-f", str(recipe), "-t", "context", str(checkout))
        container = store("from", "context").stdout.strip()
        context = Path(store("mount", container).stdout.strip()) / "context"
        # Git answers there for that directory only, as in the build's /src.
        answers = [subprocess.run(command, cwd=context, capture_output=True, text=True,
                                  env={**os.environ, "GIT_CEILING_DIRECTORIES": str(context.parent)}).stdout
                   for command in VERSION_COMMANDS[service]]
        assert answers == expected
        carrying_the_url = [str(path.relative_to(context)) for path in (context / ".git").rglob("*")
                            if path.is_file() and url.encode() in path.read_bytes()]
        assert carrying_the_url == []
    finally:
        store.remove()
