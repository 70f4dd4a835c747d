"""Start, find and stop the embedded FerretDB server used in development, tests and CI.

Production talks to MongoDB through ``MONGODB_URL``; this module is only for the machines where
no ``mongod`` can be installed. The URL it hands out is a plain one: the connection pool is chosen
by the engine profile at connect (``app/engine/``), which gives FerretDB v1 one connection per
process because it does not isolate concurrent updates of one document.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pymongo import MongoClient

from app.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
FERRETDB = TOOLS / "bin" / "ferretdb"
STATE_FILE = TOOLS / "run" / "ferretdb.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def url_for(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/"


@dataclass
class EmbeddedServer:
    """One FerretDB process on loopback with its SQLite files in ``data_dir``."""

    data_dir: str
    port: int
    pid: int | None = None
    log_file: str | None = None

    @property
    def url(self) -> str:
        return url_for(self.port)

    def start(self, timeout: float = 30.0) -> None:
        if not FERRETDB.exists():
            raise RuntimeError(f"{FERRETDB} is missing: run scripts/install-tools.sh")
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_file or str(Path(self.data_dir) / "ferretdb.log")
        args = [
            str(FERRETDB),
            "--handler=sqlite",
            f"--sqlite-url=file:{Path(self.data_dir).resolve()}/",
            f"--listen-addr=127.0.0.1:{self.port}",
            "--debug-addr=-",
            "--state-dir=-",
            "--telemetry=disable",
            "--log-level=warn",
        ]
        with open(self.log_file, "ab") as log:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(  # noqa: S603 - fixed binary, fixed arguments
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"FerretDB exited with {proc.returncode}; see {self.log_file}")
            if ping(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"FerretDB did not answer ping within {timeout}s; see {self.log_file}")

    def stop(self, timeout: float = 10.0) -> None:
        if not self.pid:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not our child: poll for its exit instead
                finished = 0 if _alive(self.pid) else self.pid
            if finished:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def ping(port: int) -> bool:
    """True when a server on ``port`` answers the ``ping`` command."""
    client: MongoClient = MongoClient(url_for(port), serverSelectionTimeoutMS=300)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def recorded_url() -> str | None:
    """The URL of the server that ``make run`` started, when it is still answering."""
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    return url_for(state["port"]) if ping(state["port"]) else None


def database_url(url: str) -> str:
    """`url` naming the app's database, so that `mongosh "$(… url)"` opens what the app writes
    (the app itself always uses `MONGODB_DB`, whatever the URL's path says). Options after `?`
    stay: `mongodb://h:27017/?replicaSet=rs0` → `mongodb://h:27017/genstore?replicaSet=rs0`."""
    base, question, options = url.partition("?")
    scheme, _, rest = base.partition("://")
    hosts = rest.split("/", 1)[0]
    return f"{scheme}://{hosts}/{get_settings().mongodb_db}{question}{options}"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "url"
    if command == "start":
        data_dir = os.environ.get("FERRETDB_DATA_DIR", str(TOOLS / "data"))
        port = int(os.environ.get("FERRETDB_PORT") or free_port())
        server = EmbeddedServer(data_dir=data_dir, port=port)
        server.start()
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(asdict(server)))
        print(database_url(server.url))
        return 0
    if command == "stop":
        try:
            server = EmbeddedServer(**json.loads(STATE_FILE.read_text()))
        except (OSError, ValueError):
            return 0
        server.stop()
        STATE_FILE.unlink(missing_ok=True)
        return 0
    if command == "url":  # the app's database: MONGODB_URL's when set, else the embedded one's
        url = get_settings().mongodb_url or recorded_url()
        if url is None:
            print("MONGODB_URL is not set and no embedded server is running", file=sys.stderr)
            return 1
        print(database_url(url))
        return 0
    print(f"usage: {sys.argv[0]} start|stop|url", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
