"""A private PostgreSQL server for the one test that takes the server away (make reliability's restart test).

The machine's PostgreSQL (127.0.0.1:5432) is shared by everyone's test runs, so it is never restarted: this module
`initdb`s a throwaway cluster into a temp dir, starts it on a free port with its socket in that dir, and can kill it
(`pg_ctl stop -m immediate`, as a crash would) and start it again. As root, initdb refuses to run, so the commands run
as the `postgres` user (`runuser -u postgres --`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg


def _bindir() -> Path:
    """The directory of initdb/pg_ctl: BILLABLE_PG_BIN, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    if env := os.environ.get("BILLABLE_PG_BIN"):
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("initdb not found: install PostgreSQL's server binaries or set BILLABLE_PG_BIN")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    """One throwaway PostgreSQL cluster: `url` is its admin database (user postgres, trust, 127.0.0.1)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._bin = _bindir()

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        subprocess.run([*self._as, str(self._bin / tool), *args], check=True, timeout=timeout, capture_output=True)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
                  "--no-sync")

    def start(self) -> None:
        """Start it and wait until it accepts connections (crash recovery included after an immediate stop)."""
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "120",
                  "-o", opts, "start")

    def kill(self) -> None:
        """Stop it the way a crash does: no checkpoint, every connection cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def restart(self, down: float = 2.0) -> None:
        """Kill it, leave it down for `down` seconds (clients see refused connections), start it again."""
        self.kill()
        time.sleep(down)
        self.start()

    def create_database(self, name: str) -> str:
        """A new database on this server; returns its URL."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster, stopped and deleted afterwards whatever happened."""
    root = Path(tempfile.mkdtemp(prefix="billable-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(root, _free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with suppress(subprocess.SubprocessError):  # not running (initdb or start failed): nothing to stop
            cluster.kill()
        shutil.rmtree(root, ignore_errors=True)
