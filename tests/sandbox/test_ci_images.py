"""Each job's image, as gitlab-ci-local's preview of the pipeline gives it,
read once for each text of the pipeline's files."""
from __future__ import annotations

import json

import pytest

from sandbox import ci_images

PIPELINE = """include:
  - local: .gitlab/ci/jobs.yml
build:
  extends: .light
  script: [echo]
"""
TEMPLATES = """.light:
  image: python:3.11-bookworm
"""


def project(folder, pipeline=PIPELINE, templates=TEMPLATES):
    (folder / ".gitlab" / "ci").mkdir(parents=True)
    (folder / ".gitlab-ci.yml").write_text(pipeline)
    (folder / ".gitlab" / "ci" / "jobs.yml").write_text(templates)
    return folder


def test_the_same_files_and_options_give_the_same_key_in_any_folder(tmp_path):
    first, second = project(tmp_path / "a"), project(tmp_path / "b")
    assert ci_images.pipeline_key(first, ()) == ci_images.pipeline_key(second, ())


def test_an_included_file_or_an_option_changed_gives_another_key(tmp_path):
    key = ci_images.pipeline_key(project(tmp_path / "a"), ())
    other_templates = project(tmp_path / "b", templates=TEMPLATES.replace("python:3.11-bookworm", "alpine:3.20"))
    assert ci_images.pipeline_key(other_templates, ()) != key
    assert ci_images.pipeline_key(tmp_path / "a", ("--variable", "A=1")) != key


def test_a_pipeline_that_includes_what_is_not_here_is_never_kept(tmp_path):
    remote = project(tmp_path, PIPELINE.replace("include:\n", "include:\n  - remote: https://example.com/ci.yml\n"))
    assert ci_images.pipeline_key(remote, ()) is None


@pytest.mark.real
def test_a_preview_is_read_once_for_each_text_of_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv(ci_images.PREVIEWS, str(tmp_path / "previews"))
    first = project(tmp_path / "a")
    assert ci_images.pipeline_jobs(first) == {"build": "python_3.11-bookworm"}
    [kept] = (tmp_path / "previews").iterdir()
    # What is kept is what a second project with the same files is given.
    kept.write_text(json.dumps({"build": "kept"}))
    assert ci_images.pipeline_jobs(project(tmp_path / "b")) == {"build": "kept"}
    # Another text is previewed anew.
    other = project(tmp_path / "c", templates=TEMPLATES.replace("python:3.11-bookworm", "alpine:3.20"))
    assert ci_images.pipeline_jobs(other) == {"build": "alpine_3.20"}
