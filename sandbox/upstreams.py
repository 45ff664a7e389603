"""Real upstream git repositories for the demo and the tests: a bare
repository served over file://, fed through a working clone."""
from __future__ import annotations

import subprocess
from pathlib import Path

IDENTITY = ["-c", "user.name=Upstream Author", "-c", "user.email=upstream@example.org"]


def git(*args, cwd=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


class Upstream:
    """An upstream project: ``url`` is what services.yml names."""

    def __init__(self, directory: Path, branch: str = "main"):
        self.directory = Path(directory)
        self.bare = self.directory / "repo.git"
        self.work = self.directory / "work"
        self.branch = branch
        self.url = self.bare.as_uri()
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.bare))
        git("init", "--quiet", f"--initial-branch={branch}", str(self.work))

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        """Write ``files``, commit, push to the branch; return the commit id."""
        for name, content in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        git("add", "--all", cwd=self.work)
        git(*IDENTITY, "commit", "--quiet", "--allow-empty", "--message", message, cwd=self.work)
        git("push", "--quiet", self.url, f"HEAD:refs/heads/{self.branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str, annotated: bool = True, move: bool = False) -> str:
        """Tag the head and push the tag; ``move`` moves an existing tag."""
        extra = ["--annotate", "--message", name] if annotated else []
        force = ["--force"] if move else []
        git(*IDENTITY, "tag", *extra, *force, name, cwd=self.work)
        git("push", "--quiet", *force, self.url, f"refs/tags/{name}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def reset(self, commit: str) -> None:
        """Move the branch back to ``commit``, as a force push does."""
        git("reset", "--quiet", "--hard", commit, cwd=self.work)
        git("push", "--quiet", "--force", self.url, f"HEAD:refs/heads/{self.branch}", cwd=self.work)
