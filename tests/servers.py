"""Real servers for the slow tests: PostgreSQL from Debian's packages, moto_server, and the MLflow server a plan
describes. Each starts in its own process group on a free port and the whole group is ended afterwards."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _output(proc: subprocess.Popen, log: Path | None) -> str:
    if log is not None:
        return log.read_text()[-3000:]
    if proc.poll() is not None and proc.stderr is not None:  # a pipe is only read once the process has ended
        return str(proc.stderr.read())[-3000:]
    return ""


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path | None = None) -> None:
    """Until `url` answers below 500; fail with the process's output if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}\n{_output(proc, log)}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s\n{_output(proc, log)}")


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def postgres(user: str, password: str, databases: list[str]) -> Iterator[tuple[str, int]]:
    """A throwaway cluster: trust on its socket for set-up, scram passwords over TCP (what MLflow uses)."""
    pg = postgres_bin()
    if pg is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql); .ci/run installs it")
    root = os.geteuid() == 0
    run_as = {"user": "postgres"} if root else {}
    data = Path(tempfile.mkdtemp(prefix="mlx-pg-", dir="/tmp"))
    if root:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run([pg / "initdb", "-D", data / "db", "-U", "postgres", "--auth-local=trust",
                    "--auth-host=scram-sha-256"], check=True, capture_output=True, **run_as)
    proc = subprocess.Popen([pg / "postgres", "-D", data / "db", "-p", str(port), "-k", data,
                             "-c", "listen_addresses=127.0.0.1"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **run_as)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([pg / "pg_isready", "-h", data, "-p", str(port)], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("postgres did not start")
            time.sleep(0.2)
        sql = [f"CREATE ROLE {user} LOGIN PASSWORD '{password}'"] + [f"CREATE DATABASE {d} OWNER {user}" for d in databases]
        for statement in sql:
            subprocess.run([pg / "psql", "-h", data, "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                            "-c", statement], check=True, capture_output=True)
        yield "127.0.0.1", port
    finally:
        stop_group(proc)
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([BIN / "moto_server", "-H", "127.0.0.1", "-p", str(port)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/", 30, proc)
        yield url
    finally:
        stop_group(proc)


@contextlib.contextmanager
def mlflow_server(command: list[str], env: dict[str, str], workdir: Path, url: str) -> Iterator[str]:
    """Run a plan's `mlflow server` argv as it is (the executable resolved in this venv)."""
    argv = [str(BIN / "mlflow"), *command[1:]]
    log = workdir / "mlflow-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=workdir, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(url + "/health", 180, proc, log)
        yield url
    finally:
        stop_group(proc)
