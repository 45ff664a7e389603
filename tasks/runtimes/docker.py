"""docker: the runtime that goes with buildx, in a Docker-in-Docker job.
The engine pulls the image from the registry it was logged in to."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import Runtime, which

if TYPE_CHECKING:
    from ..settings import Settings


class DockerRuntime(Runtime):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.program = settings.docker

    @classmethod
    def works_here(cls, settings: Settings) -> bool:
        return which(settings.docker, settings.environ)

    def command(self, *args: str) -> list[str]:
        return [self.program, *args]

    def pull_options(self, image: str) -> list[str]:
        return []   # Docker speaks plain HTTP to a registry on loopback by itself
