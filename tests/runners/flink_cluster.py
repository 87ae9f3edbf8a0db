"""A standalone Flink cluster for the tests, started and stopped by
``templates/flink/standalone-cluster.sh`` (what a user runs without Docker)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Dict, Iterator, Optional

from tests.runners import engines

SCRIPT = os.path.join(engines.ROOT, "templates", "flink", "standalone-cluster.sh")
READY_SECONDS = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def overview(rest_port: int) -> Optional[Dict[str, object]]:
    """The JobManager's ``/overview`` (None while it does not answer)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/overview" % rest_port,
                                    timeout=2) as answer:
            return json.load(answer)
    except OSError:
        return None


def pid_of(folder: str, name: str) -> Optional[int]:
    path = os.path.join(folder, "%s.pid" % name)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return int(handle.read())


def alive(pid: Optional[int]) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is no longer running.
    with contextlib.suppress(OSError):
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def log_tail(folder: str) -> str:
    tails = []
    for name in sorted(os.listdir(os.path.join(folder, "log"))):
        with open(os.path.join(folder, "log", name), errors="replace") as handle:
            tails.append("== %s\n%s" % (name, handle.read()[-1500:]))
    return "\n".join(tails)


def wait_for_slots(folder: str, rest_port: int, slots: int) -> None:
    """Waits (at most READY_SECONDS) until one TaskManager has registered ``slots`` slots."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        seen = overview(rest_port)
        if seen and seen.get("taskmanagers") == 1 and seen.get("slots-total") == slots:
            return
        for name in ("jobmanager", "taskmanager"):
            if not alive(pid_of(folder, name)):
                raise AssertionError("%s exited:\n%s" % (name, log_tail(folder)))
        if time.monotonic() > deadline:
            raise AssertionError("no TaskManager with %d slots after %.0f s (%s):\n%s" % (
                slots, READY_SECONDS, seen, log_tail(folder)))
        time.sleep(0.5)


def kill(folder: str, name: str, timeout: float = 30.0) -> int:
    """SIGKILLs the process group of ``name`` (``taskmanager``, ``worker-pool``) as a
    crash would, and waits until it is gone; returns its pid."""
    pid = pid_of(folder, name)
    assert alive(pid), "%s is not running" % name
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError("%s (pid %d) still running %.0f s after SIGKILL"
                                 % (name, pid, timeout))
        time.sleep(0.1)
    return pid


def restart(running: Dict[str, object], name: str) -> int:
    """Starts ``name`` (``taskmanager`` or ``worker-pool``) again in the cluster ``running``
    (what :func:`cluster` yields) with ``standalone-cluster.sh start-<name>``; returns its pid."""
    folder = str(running["folder"])
    started = subprocess.run(["bash", SCRIPT, "start-%s" % name, folder], env=running["env"],
                             capture_output=True, text=True, timeout=120, check=False)
    if started.returncode != 0:
        raise AssertionError("standalone-cluster.sh start-%s exited %d:\n%s%s" % (
            name, started.returncode, started.stdout, started.stderr))
    pid = pid_of(folder, name)
    assert alive(pid), "%s did not start:\n%s" % (name, log_tail(folder))
    return pid


@contextlib.contextmanager
def cluster(folder: str, slots: int = 2, worker_pool_port: Optional[int] = None,
            extra_config: str = "") -> Iterator[Dict[str, object]]:
    """Starts JobManager and TaskManager (and a worker pool) in ``folder``; yields the
    ports once the TaskManager has registered its slots; stops everything at the end."""
    rest, rpc = free_port(), free_port()
    env = dict(os.environ, FLINK_HOME=engines.flink_home(), FLINK_REST_PORT=str(rest),
               FLINK_RPC_PORT=str(rpc), FLINK_SLOTS=str(slots), PYTHON=sys.executable,
               FLINK_EXTRA_CONFIG=extra_config)
    if worker_pool_port:
        env["WORKER_POOL_PORT"] = str(worker_pool_port)
    started = subprocess.run(["bash", SCRIPT, "start", folder], env=env, capture_output=True,
                             text=True, timeout=120, check=False)
    try:
        if started.returncode != 0:
            raise AssertionError("standalone-cluster.sh start exited %d:\n%s%s" % (
                started.returncode, started.stdout, started.stderr))
        wait_for_slots(folder, rest, slots)
        yield {"rest_port": rest, "rpc_port": rpc, "folder": folder, "env": env}
    finally:
        pids = [pid_of(folder, n) for n in ("jobmanager", "taskmanager", "worker-pool")]
        subprocess.run(["bash", SCRIPT, "stop", folder], capture_output=True, timeout=60,
                       check=False)
        still = [pid for pid in pids if alive(pid)]
        assert not still, "cluster processes %s still running after stop" % still
