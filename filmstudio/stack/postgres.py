"""A private PostgreSQL cluster under ``<state_dir>/postgres``, on loopback and its own port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.settings import Settings
from filmstudio import procutil
from filmstudio.procutil import ServiceError

CLUSTER_OWNER = "postgres"  # initdb refuses root, so a root caller runs the cluster as this user
MAX_CONNECTIONS = 300  # every process has its pools, and the tests run several studios at once


def home(settings: Settings) -> Path:
    return settings.state_dir / "postgres"


def data_dir(settings: Settings) -> Path:
    return home(settings) / "data"


def socket_dir(settings: Settings) -> Path:
    return home(settings) / "run"


def log_file(settings: Settings) -> Path:
    return home(settings) / "postgres.log"


def bindir() -> Path:
    """PostgreSQL's server binaries (``pg_config --bindir``, else the newest Debian install)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = Path(
            subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        if (found / "initdb").exists():
            return found
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if not candidates:
        raise ServiceError("PostgreSQL server binaries not found; run `make bootstrap`")
    return Path(candidates[-1]).parent


def _owner() -> str:
    """The OS user that owns and runs the cluster (also its superuser name)."""
    return CLUSTER_OWNER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _as_owner(*argv: str) -> list[str]:
    prefix = ["runuser", "-u", CLUSTER_OWNER, "--"] if os.geteuid() == 0 else []
    return [*prefix, *argv]


def _pg_ctl(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        _as_owner(str(bindir() / "pg_ctl"), "-D", str(data_dir(settings)), *args),
        check=check,
        capture_output=True,
        text=True,
    )


def running(settings: Settings) -> bool:
    """Whether this installation's cluster runs (pg_ctl also sees through stale pid files)."""
    if not (data_dir(settings) / "PG_VERSION").exists():
        return False
    return _pg_ctl(settings, "status", check=False).returncode == 0


def _reachable(folder: Path) -> bool:
    return subprocess.run(_as_owner("test", "-w", str(folder)), check=False).returncode == 0


def _let_owner_traverse(folder: Path) -> None:
    """Grant the cluster owner (only) passage through the folder's closed parents, by ACL: a
    checkout in a private folder (`mktemp -d` makes them 700) then keeps its cluster inside."""
    setfacl = shutil.which("setfacl")
    if setfacl is None:
        return
    for parent in reversed(folder.parents):
        if subprocess.run(_as_owner("test", "-x", str(parent)), check=False).returncode != 0:
            subprocess.run([setfacl, "-m", f"u:{_owner()}:x", str(parent)], check=False)


def _init(settings: Settings) -> None:
    """Create the cluster once, owned by the cluster owner, reachable from its own state folder."""
    if (data_dir(settings) / "PG_VERSION").exists():
        return
    for folder in (home(settings), socket_dir(settings)):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, _owner(), None)
        folder.chmod(0o700)
    if not _reachable(home(settings)):
        _let_owner_traverse(home(settings))
    if not _reachable(home(settings)):
        raise ServiceError(
            f"user {_owner()} cannot reach {home(settings)}: make its parents "
            "traversable (chmod o+x) or set FILMSTUDIO_STATE_DIR elsewhere"
        )
    subprocess.run(
        _as_owner(
            str(bindir() / "initdb"),
            "-D",
            str(data_dir(settings)),
            "-U",
            _owner(),
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ),
        check=True,
        capture_output=True,
        text=True,
    )


def start(settings: Settings) -> bool:
    """Start the cluster (initialising it the first time); False if it already ran."""
    if running(settings):
        return False
    if procutil.port_in_use("127.0.0.1", settings.pg_port):
        raise ServiceError(
            f"port {settings.pg_port} is taken by another process (another "
            "stack?); stop it or set FILMSTUDIO_PG_PORT"
        )
    _init(settings)
    options = (
        f"-c listen_addresses=127.0.0.1 -p {settings.pg_port} "
        f"-k {socket_dir(settings)} -c unix_socket_permissions=0700 "
        f"-c max_connections={MAX_CONNECTIONS}"
    )
    result = _pg_ctl(
        settings,
        "start",
        "-w",
        "-t",
        "60",
        "-l",
        str(log_file(settings)),
        "-o",
        options,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"PostgreSQL did not start:\n{result.stdout}{result.stderr}\n"
            + procutil.tail(log_file(settings))
        )
    return True


def stop(settings: Settings) -> bool:
    """Stop the cluster (fast shutdown); False if it was not running."""
    if not running(settings):
        return False
    _pg_ctl(settings, "stop", "-m", "fast", "-w", "-t", "60")
    return True


def _admin(settings: Settings) -> psycopg.Connection:
    """A superuser connection over the cluster's private socket (trusted, folder mode 0700)."""
    conn = psycopg.connect(
        host=str(socket_dir(settings)),
        port=settings.pg_port,
        user=_owner(),
        dbname="postgres",
        autocommit=True,
    )
    conn.execute("SET log_min_error_statement = panic")  # keep passwords out of the server log
    return conn


def ensure_role(settings: Settings) -> None:
    """Create the application role, or reset its password to the configured one."""
    password = settings.pg_password.get_secret_value()
    role = sql.Identifier(settings.pg_user)
    with _admin(settings) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.pg_user,)
        ).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, role, sql.Literal(password))
        )


def ensure_database(settings: Settings, name: str) -> bool:
    """Create database ``name`` owned by the application role if missing; True if created."""
    with _admin(settings) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(settings.pg_user)
            )
        )
        return True


def drop_database(settings: Settings, name: str) -> None:
    """Drop database ``name`` (disconnecting its sessions) if it exists."""
    with _admin(settings) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
