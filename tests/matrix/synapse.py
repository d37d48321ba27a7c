"""A real Synapse homeserver on loopback for tests and benchmarks.

`start_synapse(workdir)` writes a minimal configuration (SQLite, no federation, registration
closed but open to the shared secret, rate limits lifted), starts
`python -m synapse.app.homeserver` on 127.0.0.1 and a free port, and waits for `/health`.
Users are registered through the shared-secret admin API, so a test never needs a login to
get an access token. Blocking helpers are for synchronous fixtures and scripts; the `a…`
twins run them in a worker thread for async code.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import hashlib
import hmac
import importlib.util
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
_shared: SynapseServer | None = None
_HIGH = {"per_second": 10_000, "burst_count": 100_000}
_counter = itertools.count(1)


@dataclass(frozen=True, slots=True)
class RegisteredUser:
    """An account on the test homeserver, with the access token registration returned."""

    user_id: str
    localpart: str
    password: str
    access_token: str
    device_id: str


class SynapseError(RuntimeError):
    """The homeserver did not start or refused an admin request."""


def synapse_missing() -> str | None:
    """Why Synapse cannot run here (a skip reason), or None when it can."""
    try:
        spec = importlib.util.find_spec("synapse.app.homeserver")
    except (ImportError, ValueError) as exc:
        return f"matrix-synapse is not importable: {exc}"
    if spec is None:
        return "matrix-synapse is not installed (pip install matrix-synapse)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _config(workdir: Path, port: int, server_name: str, shared_secret: str) -> dict[str, Any]:
    limits: dict[str, Any] = {
        "rc_message": _HIGH,
        "rc_registration": _HIGH,
        "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
        "rc_joins": {"local": _HIGH, "remote": _HIGH},
        "rc_joins_per_room": _HIGH,
        "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
        "rc_room_creation": _HIGH,
        "rc_3pid_validation": _HIGH,
        "rc_key_requests": _HIGH,
        "rc_presence": {"per_user": _HIGH},
        "rc_delayed_event_mgmt": _HIGH,
        "rc_reports": _HIGH,
        "rc_user_directory": _HIGH,
        "rc_profile": _HIGH,
        "rc_media_create": _HIGH,
        "rc_admin_redaction": _HIGH,
    }
    return {
        "server_name": server_name,
        "pid_file": str(workdir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": [HOST],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(workdir / "homeserver.db")}},
        "log_config": str(workdir / "log.yaml"),
        "media_store_path": str(workdir / "media"),
        "signing_key_path": str(workdir / "signing.key"),
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "enable_registration": False,
        # Tests register and log in often; the production cost of 12 rounds buys nothing here.
        "bcrypt_rounds": 4,
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "url_preview_enabled": False,
        "enable_authenticated_media": False,
        "presence": {"enabled": False},
        "enable_metrics": False,
        **limits,
    }


def _log_config(log_path: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "plain",
                "filename": str(log_path),
                "encoding": "utf8",
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


class SynapseServer:
    """A running Synapse process and the admin calls tests need."""

    def __init__(
        self,
        *,
        workdir: Path,
        port: int,
        server_name: str,
        shared_secret: str,
        process: subprocess.Popen[bytes],
    ) -> None:
        self.workdir = workdir
        self.port = port
        self.server_name = server_name
        self.base_url = f"http://{HOST}:{port}"
        self.log_path = workdir / "homeserver.log"
        self._shared_secret = shared_secret
        self._process = process
        self._admin: RegisteredUser | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The homeserver's process id (benchmarks read its CPU time)."""
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self._process.poll() is None

    def stop(self) -> None:
        """Terminate the homeserver, and kill it if it does not stop within 10 s."""
        if self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def start_again(self, startup_timeout: float = 90.0) -> None:
        """Start a stopped homeserver again: same configuration, port, database and accounts.

        Tests use this to take the homeserver away for a while (an outage, a restart).
        """
        if self.running:
            return
        self._process = _spawn(self.workdir)
        _wait_healthy(self, startup_timeout)

    async def astop(self) -> None:
        """`stop` without blocking the event loop."""
        await asyncio.to_thread(self.stop)

    async def astart_again(self) -> None:
        """`start_again` without blocking the event loop."""
        await asyncio.to_thread(self.start_again)

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the homeserver's log, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf8", errors="replace")
        except OSError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:])

    # -- HTTP ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """A blocking JSON request to the homeserver; raises SynapseError on an HTTP error."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SynapseError(f"{method} {path}: HTTP {exc.code} {detail}") from None
        return json.loads(raw) if raw else {}

    async def arequest(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        """`request` without blocking the event loop."""
        return await asyncio.to_thread(self.request, method, path, body, token=token)

    # -- users -----------------------------------------------------------------------------

    def register(
        self,
        localpart: str | None = None,
        *,
        password: str | None = None,
        admin: bool = False,
        displayname: str | None = None,
        unique: bool = True,
    ) -> RegisteredUser:
        """Create an account with the shared-secret admin API (HMAC over a fresh nonce).

        `localpart` gets a numeric suffix unless `unique` is False, so tests can reuse names.
        """
        base = localpart or "user"
        name = f"{base}-{next(_counter)}-{secrets.token_hex(2)}" if unique else base
        password = password or secrets.token_urlsafe(12)
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self._shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce.encode(), name.encode(), password.encode()):
            mac.update(part)
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": name,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname:
            body["displayname"] = displayname
        out = self.request("POST", "/_synapse/admin/v1/register", body)
        return RegisteredUser(
            user_id=out["user_id"],
            localpart=name,
            password=password,
            access_token=out["access_token"],
            device_id=out["device_id"],
        )

    async def create_user(
        self,
        localpart: str | None = None,
        *,
        password: str | None = None,
        admin: bool = False,
        displayname: str | None = None,
    ) -> RegisteredUser:
        """`register` without blocking the event loop."""
        return await asyncio.to_thread(
            self.register, localpart, password=password, admin=admin, displayname=displayname
        )

    @property
    def admin(self) -> RegisteredUser:
        """A server admin, registered on first use."""
        if self._admin is None:
            self._admin = self.register("admin", admin=True)
        return self._admin

    def set_ratelimit(self, user_id: str, messages_per_second: int, burst_count: int) -> None:
        """Override the message rate limit of one user (0 and 0 lift every limit)."""
        path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit"
        body = {"messages_per_second": messages_per_second, "burst_count": burst_count}
        self.request("POST", path, body, token=self.admin.access_token)

    async def aset_ratelimit(
        self, user_id: str, messages_per_second: int, burst_count: int
    ) -> None:
        """`set_ratelimit` without blocking the event loop."""
        await asyncio.to_thread(self.set_ratelimit, user_id, messages_per_second, burst_count)


def start_synapse(
    workdir: Path,
    *,
    server_name: str = "localhost",
    port: int | None = None,
    startup_timeout: float = 90.0,
) -> SynapseServer:
    """Write a configuration into `workdir`, start Synapse and wait until `/health` answers.

    Without a `port`, a free one is picked (and another one if it was taken meanwhile).
    Raises SynapseError, with the tail of the homeserver log, when it does not come up.
    """
    reason = synapse_missing()
    if reason:
        raise SynapseError(reason)
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        try:
            return _launch(workdir, server_name, port or free_port(), startup_timeout)
        except SynapseError as exc:
            if port is not None or attempt == 2 or "Failed to listen" not in str(exc):
                raise
    raise AssertionError("unreachable")


def _launch(workdir: Path, server_name: str, port: int, startup_timeout: float) -> SynapseServer:
    shared_secret = secrets.token_hex(24)
    config_path = workdir / "homeserver.yaml"
    # JSON is YAML, so no YAML writer is needed.
    config_path.write_text(json.dumps(_config(workdir, port, server_name, shared_secret)))
    (workdir / "log.yaml").write_text(json.dumps(_log_config(workdir / "homeserver.log")))
    key = workdir / "signing.key"
    if not key.exists():
        key.write_text(f"ed25519 a_test {base64.b64encode(os.urandom(32)).decode().rstrip('=')}\n")
    (workdir / "stdio.log").write_bytes(b"")  # a start again appends to it
    server = SynapseServer(
        workdir=workdir,
        port=port,
        server_name=server_name,
        shared_secret=shared_secret,
        process=_spawn(workdir),
    )
    _wait_healthy(server, startup_timeout)
    return server


def _spawn(workdir: Path) -> subprocess.Popen[bytes]:
    with (workdir / "stdio.log").open("ab") as stdio:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "synapse.app.homeserver",
                "--config-path",
                str(workdir / "homeserver.yaml"),
            ],
            cwd=workdir,
            stdout=stdio,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _wait_healthy(server: SynapseServer, startup_timeout: float) -> None:
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if not server.running:
            raise SynapseError(_start_failure(server, "Synapse exited during start-up"))
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{server.base_url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        time.sleep(0.2)
    server.stop()
    raise SynapseError(_start_failure(server, f"Synapse not healthy after {startup_timeout}s"))


def _start_failure(server: SynapseServer, what: str) -> str:
    stdio = server.workdir / "stdio.log"
    out = stdio.read_text(errors="replace")[-4000:] if stdio.exists() else ""
    return f"{what}\n--- stdout/stderr ---\n{out}\n--- {server.log_path} ---\n{server.log_tail()}"


def shared_synapse(workdir: Path | None = None) -> SynapseServer:
    """The one Synapse of this process: started on first use, stopped at exit at the latest.

    Every test folder's fixture (and a benchmark) calls this, so a test session that runs
    tests/matrix and tests/scenarios together still starts a single homeserver.
    """
    global _shared
    if _shared is None or not _shared.running:
        where = workdir or Path(tempfile.mkdtemp(prefix="binbot-synapse-"))
        _shared = start_synapse(where)
        atexit.register(_shared.stop)
    return _shared
