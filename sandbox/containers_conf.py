"""podman's configuration for this kind of machine: as root without
CAP_SYS_RESOURCE, podman's default limits (nofile 1048576, nproc 32768)
cannot be set and every container fails to start. Limits at or below the
machine's own hard limits can. And runc rather than crun, which stops with
"cgroups in hybrid mode not supported" here."""
from __future__ import annotations

import resource
import shutil
from pathlib import Path

LIMITS = {"nofile": (resource.RLIMIT_NOFILE, 20000), "nproc": (resource.RLIMIT_NPROC, 4000)}


def write(directory: Path) -> dict[str, str]:
    """A containers.conf in ``directory``; the environment that points podman at it."""
    limits = []
    for name, (which, wanted) in LIMITS.items():
        hard = resource.getrlimit(which)[1]
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        limits.append(f'"{name}={value}:{value}"')
    path = Path(directory, "containers.conf")
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = '[engine]\nruntime = "runc"\n' if shutil.which("runc") else ""
    path.write_text(f"[containers]\ndefault_ulimits = [{', '.join(limits)}]\n{engine}")
    return {"CONTAINERS_CONF": str(path)}
