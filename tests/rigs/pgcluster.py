"""A throwaway PostgreSQL cluster for tests and benchmarks: ``initdb`` into a folder, a Unix
socket in it, a free port, fsync on (the ledger's durability is what is measured), stopped and
left for the caller's temporary folder to remove.

    with ThrowawayCluster(tmp_path) as pg:
        dsn = pg.create_database("station")      # postgresql://postgres@/station?host=…&port=…

The server binaries are looked up on PATH, then under /usr/lib/postgresql/*/bin (Debian's
``postgresql`` package; .ci/run installs it).  PostgreSQL refuses to run as root: as root the
cluster runs as the ``postgres`` user (Debian's package creates it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from terminal_app.errors import ConfigurationError, DeviceError


def find_bin(name: str) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                      if p.parent.name.isdigit() else 0)
    for d in reversed(versions):
        if (d / name).is_file():
            return d / name
    return None


def missing() -> str | None:
    """Why no cluster can be started here (None: it can)."""
    for name in ("initdb", "pg_ctl", "postgres"):
        if find_bin(name) is None:
            return f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the cluster as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayCluster:
    def __init__(self, base: str | os.PathLike[str], *, max_connections: int = 100) -> None:
        why = missing()
        if why:
            raise ConfigurationError("No PostgreSQL cluster can be started: {why}.", "Install postgresql.", why=why)
        self._as: list[str] = []
        self._own_base = False
        if os.geteuid() == 0:
            # run as postgres, in a folder of its own that it can reach (pytest's are root-only)
            self._as = ["runuser", "-u", "postgres", "--"]
            self.base = Path(tempfile.mkdtemp(prefix="handheld-pg-"))
            self._own_base = True
        else:
            self.base = Path(base) / "pg"
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = _free_port()
        self.max_connections = max_connections

    def _run(self, *cmd: str | os.PathLike[str], timeout: float = 120) -> None:
        proc = subprocess.run([*self._as, *map(str, cmd)], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise DeviceError("PostgreSQL's {cmd} failed: {err}", "See the message; the cluster's log is {log}.",
                              cmd=Path(str(cmd[0])).name, err=(proc.stderr or proc.stdout)[-800:],
                              log=str(self.base / "server.log"))

    def start(self) -> ThrowawayCluster:
        self.sock.mkdir(parents=True, exist_ok=True)
        if self._as:
            pw = pwd.getpwnam("postgres")
            os.chmod(self.base, 0o711)
            for p in (self.base, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run(find_bin("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C",
                  "--no-instructions")
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses='' -c fsync=on -c synchronous_commit=on"
                f" -c max_connections={self.max_connections} -c shared_buffers=64MB")
        self._run(find_bin("pg_ctl"), "-D", self.data, "-o", opts, "-l", self.base / "server.log", "-w", "-t", "60",
                  "start")
        return self

    def stop(self) -> None:
        with contextlib.suppress(DeviceError, subprocess.TimeoutExpired):
            self._run(find_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop", timeout=60)
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@/{db}?host={self.sock}&port={self.port}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def __enter__(self) -> ThrowawayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
