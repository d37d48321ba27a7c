"""A private PostgreSQL cluster for one test: its own data directory, a free port on
127.0.0.1, trust authentication. Unlike the shared server of tests/conftest.py it may be
restarted, or crashed, half-way through a test.

    with PrivatePostgres.create() as pg:   # pytest.skip(...) when it cannot be had
        pg.url                             # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
        await pg.restart()                 # pg_ctl restart -m fast
        await pg.crash()                   # pg_ctl stop -m immediate, then start (crash recovery)

The binaries are found with `pg_config --bindir`, else in /usr/lib/postgresql/*/bin. initdb
refuses to run as root, so as root the cluster runs as the `postgres` system user (through
`runuser`), in a directory it owns; otherwise as the current user. Leaving the `with` block
stops the server (`-m immediate`: nothing in it is worth keeping) and removes the directory.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from glob import glob
from pathlib import Path

import pytest

SERVICE_USER = "postgres"
TIMEOUT = 60  # seconds any one initdb / pg_ctl may take


class Unavailable(Exception):
    """No private cluster can be had here; the message says why."""


def find_bindir() -> Path:
    """The directory of initdb, pg_ctl and postgres."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    # The newest major version first (sorted numerically, not as text: 9.6 < 15).
    found = glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in found), key=_version, reverse=True)
    for d in candidates:
        if all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    raise Unavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: neither in "
        "`pg_config --bindir` nor in /usr/lib/postgresql/*/bin"
    )


def _version(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in path.parent.name.split("."))
    except ValueError:
        return (0,)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One cluster in `root` (a fresh temporary directory); see the module docstring."""

    def __init__(self, bindir: Path, root: Path, run_as: str | None) -> None:
        self.bindir, self.root, self.run_as = bindir, root, run_as
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = 0

    # -- life --------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def create(cls, *, skip: bool = True) -> Iterator[PrivatePostgres]:
        """initdb and start a cluster; stop it and remove its directory afterwards.

        When no cluster can be had, the test is skipped with the reason (`skip=False`:
        `Unavailable` is raised instead)."""
        root = Path(tempfile.mkdtemp(prefix="binbot-pg-"))
        pg: PrivatePostgres | None = None
        try:
            try:
                pg = cls(find_bindir(), root, _run_as())
                pg._init()
                pg._start_on_a_free_port()
            except Unavailable as exc:
                if not skip:
                    raise
                pytest.skip(f"no private PostgreSQL cluster: {exc}")
            yield pg
        finally:
            try:
                if pg is not None and (pg.data / "postmaster.pid").exists():
                    pg.stop()
            finally:
                shutil.rmtree(root, ignore_errors=True)

    def _init(self) -> None:
        # The service user must reach its directory: the temporary directory is 0700 (root's).
        os.chmod(self.root, 0o755)
        self.data.mkdir(mode=0o700)
        self.log.touch()
        if self.run_as is not None:
            owner = pwd.getpwnam(self.run_as)
            for p in (self.data, self.log):
                os.chown(p, owner.pw_uid, owner.pw_gid)
        out = self._run(
            self.bindir / "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if out.returncode != 0:
            raise Unavailable(f"initdb failed ({out.returncode}): {_tail(out.stderr)}")

    def _start_on_a_free_port(self) -> None:
        """Start on a free port; another port is tried when this one was taken meanwhile."""
        why = ""
        for _ in range(3):
            self.port = free_port()
            self._configure()
            out = self._pg_ctl("start", check=False)
            if out.returncode == 0:
                return
            why = f"pg_ctl start failed ({out.returncode}): {_tail(self.log_text())}"
            if "Address already in use" not in self.log_text():
                break
        raise Unavailable(why)

    def _configure(self) -> None:
        """Settings in postgresql.conf, the last of a setting winning: `pg_ctl start` reads
        them again each time (it does not keep the options of the previous start)."""
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(
                "\n# binbot tests: private cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.data}'\n"
                # Speed: no durability across an OS crash. A crash of the server (its
                # processes killed) loses nothing committed: the WAL is in the OS's cache.
                "fsync = off\n"
            )

    # -- what tests do ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """An async SQLAlchemy URL to the `postgres` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def raw_url(self) -> str:
        """The same for asyncpg."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def restart(self) -> None:
        """`pg_ctl restart -m fast`: sessions are ended, transactions in progress rolled
        back, a shutdown checkpoint written, and the server started again."""
        await asyncio.to_thread(self._pg_ctl, "restart", "-m", "fast")

    async def crash(self) -> None:
        """`pg_ctl stop -m immediate` (every server process killed, no checkpoint), then
        start: the server runs crash recovery from the WAL before accepting connections."""
        await asyncio.to_thread(self._pg_ctl, "stop", "-m", "immediate")
        await asyncio.to_thread(self._pg_ctl, "start")

    def stop(self) -> None:
        """Stop the server at once (`-m immediate`), if it runs."""
        with suppress(Unavailable):
            self._pg_ctl("stop", "-m", "immediate", check=False)

    def log_text(self) -> str:
        """The server's log so far (every start appends to it)."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    # -- running the binaries --------------------------------------------------------------

    def _pg_ctl(
        self, action: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd: list[str | Path] = [
            self.bindir / "pg_ctl",
            action,
            "-D",
            str(self.data),
            "-w",
            "-t",
            str(TIMEOUT),
        ]
        if action in ("start", "restart"):
            cmd += ["-l", str(self.log)]
        out = self._run(*cmd, *args)
        if check and out.returncode != 0:
            raise RuntimeError(
                f"pg_ctl {action} {' '.join(args)} failed ({out.returncode}): "
                f"{_tail(out.stderr)}\n--- server log ---\n{_tail(self.log_text())}"
            )
        return out

    def _run(self, *cmd: str | Path) -> subprocess.CompletedProcess[str]:
        argv = [str(c) for c in cmd]
        if self.run_as is not None:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        try:
            return subprocess.run(
                argv,
                cwd=self.root,  # the service user may not be allowed into the current one
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                # pg_ctl detaches the server (its own session, its output to the -l log), so
                # these pipes close when pg_ctl exits.
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{argv[0]} could not be run: {exc}") from exc


def _run_as() -> str | None:
    """None to run as the current user; the service user when running as root."""
    if os.geteuid() != 0:
        return None
    if shutil.which("runuser") is None:
        raise Unavailable("running as root, and `runuser` (to run as postgres) is missing")
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise Unavailable(
            f"running as root (initdb refuses to), and there is no `{SERVICE_USER}` user"
        ) from None
    return SERVICE_USER


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
