"""build: what of the build context goes into an image is the recipe's
call (its Dockerfile.dockerignore), not the upstream's; real buildah
builds, read back from the registry."""
from __future__ import annotations

from sandbox.demo import stand_in_dockerfile
from sandbox.readback import paths_in_image

COPY_EVERYTHING = stand_in_dockerfile("COPY . /src/")


def test_the_recipes_ignore_file_keeps_gits_data_out_of_the_image(make_sandbox, client):
    box = make_sandbox(dockerfile=COPY_EVERYTHING)
    box.commit_change("Dockerfiles/hello-cli/Dockerfile.dockerignore", ".git\n")
    box.fresh_job()

    box.doit()

    contents = {}
    for name in ("hello-web", "hello-cli"):
        repository = f"{box.prefix}/{name}"
        index = client.manifest(repository, "latest").json()
        amd64 = next(m["digest"] for m in index["manifests"] if m["platform"]["architecture"] == "amd64")
        contents[name] = paths_in_image(client, repository, amd64, box.pull_authorization(repository))
    assert "src/message.txt" in contents["hello-cli"] and "src/message.txt" in contents["hello-web"]
    assert not any(path.startswith("src/.git") for path in contents["hello-cli"])
    assert "src/.git/HEAD" in contents["hello-web"]        # the checkout's .git, without an ignore file


def test_a_changed_ignore_file_is_a_new_build(sandbox):
    sandbox.doit()
    sandbox.take_builds()
    sandbox.commit_change("Dockerfiles/hello-cli/Dockerfile.dockerignore", ".git\n")
    sandbox.fresh_job()

    assert sandbox.pending() == sandbox.tasks_of("hello-cli")
