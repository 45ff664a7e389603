"""The catalogue's remote, on the GitLab stand-in: read with the job's own
checkout credentials where they may, with PRIVACY_OCI_GIT_TOKEN where they
may not (a catalogue in another project), and said once, clearly, when
nothing may read it. The real doit in a runner-configured job checkout."""
from __future__ import annotations

import subprocess

from sandbox.gitlab_project import make_project
from sandbox.upstreams import git


def run_in_job(project, **settings) -> subprocess.CompletedProcess:
    """``doit`` as a one-job pipeline's job runs it, in a new job checkout."""
    checkout = project.new_job()
    env = {**project.job.env, **project.machine_env, **project.project_variables,
           "CI_COMMIT_BRANCH": "main", "PRIVACY_OCI_PREPARE_BUILDER": "true", "STORAGE_DRIVER": "vfs", **settings}
    return subprocess.run(["doit"], cwd=checkout, env={k: v for k, v in env.items() if v is not None},
                          capture_output=True, text=True, timeout=900)


def test_a_catalogue_remote_the_job_may_not_read_is_read_with_the_token(tmp_path, base):
    project = make_project(tmp_path, base)
    try:
        gitlab = project.gitlab
        git("--git-dir", str(gitlab.bare), "push", "--quiet", str(gitlab.private_bare), "main")
        elsewhere = {"PRIVACY_OCI_GIT_REMOTE": gitlab.private_url}

        # Nothing may read it: said once, naming the remote and what to set; latest not moved.
        alone = run_in_job(project, PRIVACY_OCI_GIT_TOKEN=None, **elsewhere)
        assert alone.returncode != 0
        said = alone.stdout + alone.stderr
        assert said.count(f"the catalogue's remote {gitlab.private_url} (main) cannot be read") == 2  # failure, summary
        assert "Set PRIVACY_OCI_GIT_TOKEN to a token that may read and push it" in said
        assert "said at the first service that asked" in said
        assert project.client().manifest(f"{project.prefix}/hello-web", "latest") is None

        # With the token: the job token is refused there, the token reads and records.
        seen = len(gitlab.git_credentials)
        published = run_in_job(project, **elsewhere)
        assert published.returncode == 0, published.stdout + published.stderr
        asked = [(c.service, c.user == "gitlab-ci-token") for c in gitlab.git_credentials[seen:]]
        assert ("git-upload-pack", True) in asked and ("git-upload-pack", False) in asked
        recorded = git("--git-dir", str(gitlab.private_bare), "show", "main:services.yml")
        assert "published:" in recorded
        assert "published:" not in git("--git-dir", str(gitlab.bare), "show", "main:services.yml")
        assert project.client().manifest(f"{project.prefix}/hello-web", "latest") is not None
    finally:
        project.gitlab.close()
