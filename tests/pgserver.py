"""A real PostgreSQL server for the tests: Debian's package, `initdb` into a
temporary folder and `pg_ctl` on a free loopback port.

PostgreSQL refuses to run as root, so as root the server runs as the
`postgres` user (which Debian's package creates). Host connections need the
password, so the tests can also try a wrong one.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "pg-secret-7f3a"


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    return _binary("initdb") is not None and _binary("pg_ctl") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    root: Path
    port: int
    _as_postgres: bool
    durable: bool = False  # fsync and synchronous commits, as in production (the tests need neither)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "feeder", *, password: str = PASSWORD, schema: str | None = None) -> str:
        url = f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"
        if schema:
            url += f"?options=-csearch_path%3D{schema}"
        return url

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresServer:
        as_postgres = os.geteuid() == 0
        root = Path(tempfile.mkdtemp(prefix="feeder-pg-"))
        server = cls(root, _free_port(), as_postgres, durable)
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if as_postgres:
            shutil.chown(root, "postgres")
            shutil.chown(pwfile, "postgres")
        server._run(_binary("initdb") or "initdb", "-D", str(server.data), "-U", "postgres", "-E", "UTF8",
                    "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}")
        server._start()
        import psycopg

        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE feeder")
        return server

    def _start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(_binary("pg_ctl") or "pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(_binary("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self._start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.root / "log").read_text(errors="replace")
        except OSError:
            return ""
