"""A single-node SLURM for the tests: munged, slurmctld and slurmd on this machine, all state in one folder.

    node = SlurmNode(tmp_path)        # installs Debian's slurmctld, slurmd, slurm-client and munge if missing
    node.start()                      # munge key, slurm.conf, daemons; waits until the node is idle
    env = node.env()                  # SLURM_CONF for sbatch/squeue/scancel (and dask-jobqueue) in subprocesses
    node.stop()                       # cancels jobs, stops the daemons (always call it: fixture finalizer)

The node is this machine as ``slurmd -C`` reports it (its real CPUs and memory), reached on 127.0.0.1 at free
ports. Jobs run as root (``SlurmdUser=root``) without cgroups (``proctrack/linuxproc``, ``task/none``), so no
system service or cgroup setup is needed. Every failure raises ``SlurmError`` with the daemons' logs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "munged")
INSTALL_TIMEOUT = 300  # s
START_TIMEOUT = 60  # s


class SlurmError(RuntimeError):
    """The single-node SLURM could not be installed, started or used; the message says why."""


def _which(command: str) -> str | None:
    for folder in (*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin", "/usr/bin"):
        path = Path(folder) / command
        if folder and path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def _run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def install() -> None:
    """Install SLURM and munge with apt-get when a command is missing; SlurmError when that cannot be done."""
    missing = [c for c in COMMANDS if _which(c) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmError(f"SLURM commands {missing} are missing and installing them needs root (apt-get install "
                         f"{' '.join(PACKAGES)}); run the tests as root or install those packages first")
    if _which("apt-get") is None:
        raise SlurmError(f"SLURM commands {missing} are missing and there is no apt-get to install "
                         f"{' '.join(PACKAGES)}; install SLURM (slurmctld, slurmd, client) and munge first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    result = _run(cmd, INSTALL_TIMEOUT, env=env)
    if result.returncode != 0:  # stale package lists: refresh them once
        update = _run(["apt-get", "update", "-q"], INSTALL_TIMEOUT, env=env)
        result = _run(cmd, INSTALL_TIMEOUT, env=env)
        if result.returncode != 0:
            raise SlurmError(f"apt-get could not install {' '.join(PACKAGES)} (exit {result.returncode}):\n"
                             f"{update.stdout[-1500:]}{update.stderr[-1500:]}\n{result.stdout[-3000:]}"
                             f"{result.stderr[-3000:]}")
    still = [c for c in COMMANDS if _which(c) is None]
    if still:
        raise SlurmError(f"after apt-get install {' '.join(PACKAGES)}, {still} are still missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmNode:
    """One SLURM controller and one compute node (this machine), configured and kept under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.sock"
        self.logs = self.root / "log"
        self.node_name = ""
        self.cpus = 0
        self.memory_mb = 0
        self._started: list[str] = []

    # -- setup ---------------------------------------------------------------------------------------
    def _node_line(self) -> str:
        out = _run([_which("slurmd") or "slurmd", "-C"], 30)
        line = next((x for x in out.stdout.splitlines() if x.startswith("NodeName=")), None)
        if out.returncode != 0 or line is None:
            raise SlurmError(f"'slurmd -C' did not describe this machine: {out.stdout}{out.stderr}")
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        self.node_name = fields["NodeName"]
        self.cpus = int(fields["CPUs"])
        self.memory_mb = int(fields["RealMemory"])
        keep = ("NodeName", "CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
        return " ".join(f"{k}={fields[k]}" for k in keep if k in fields) + " NodeAddr=127.0.0.1 State=UNKNOWN"

    def _write_conf(self) -> None:
        r = self.root
        node = self._node_line()
        self.conf.write_text("\n".join([
            f"ClusterName=synsweep{os.getpid()}",
            f"SlurmctldHost={self.node_name}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "CredType=cred/munge",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.logs / 'slurmctld.log'}",
            f"SlurmdLogFile={self.logs / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "ReturnToService=2",
            "MpiDefault=none",
            "KillWait=5",
            node,
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))

    def env(self) -> dict[str, str]:
        """The environment for SLURM client commands (and programs that call them) on this node."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self) -> None:
        """Start munged, slurmctld and slurmd and wait until the node is idle (SlurmError otherwise)."""
        install()
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._write_conf()
        munge = self.root / "munge"
        self._daemon("munged", ["--force", f"--socket={self.munge_socket}", f"--key-file={key}",
                                f"--pid-file={munge / 'munged.pid'}", f"--log-file={self.logs / 'munged.log'}",
                                f"--seed-file={munge / 'seed'}"])
        self._daemon("slurmctld", ["-f", str(self.conf)])
        self._daemon("slurmd", ["-f", str(self.conf), "-N", self.node_name])
        deadline = time.monotonic() + START_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            out = _run([_which("sinfo") or "sinfo", "-h", "-o", "%T"], 10, env=self.env())
            state = (out.stdout + out.stderr).strip()
            if out.returncode == 0 and state in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise SlurmError(f"the SLURM node did not become idle within {START_TIMEOUT} s (sinfo: {state!r})\n"
                         + self.log_text())

    def _daemon(self, name: str, args: list[str]) -> None:
        out = _run([_which(name) or name, *args], 30, env=self.env())
        if out.returncode != 0:
            raise SlurmError(f"{name} did not start (exit {out.returncode}): {out.stdout}{out.stderr}\n"
                             + self.log_text())
        self._started.append(name)

    # -- use -----------------------------------------------------------------------------------------
    def squeue(self) -> str:
        out = _run([_which("squeue") or "squeue", "-h", "-o", "%i %j %T"], 10, env=self.env())
        return out.stdout.strip()

    def wait_empty(self, timeout: float = 30) -> bool:
        """Wait until no job is queued, running or completing; whether that happened in ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.squeue():
                return True
            time.sleep(0.5)
        return False

    def log_text(self, tail: int = 4000) -> str:
        """The last ``tail`` characters of each daemon log, for failure messages."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts) or "(no SLURM logs were written)"

    # -- teardown ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel every job, stop slurmd, slurmctld and munged (by their pid files); idempotent."""
        if "slurmctld" in self._started:
            _run([_which("scancel") or "scancel", "--full", "-u", "root"], 15, env=self.env())
            self.wait_empty(15)
        pids = {"slurmd": self.root / "slurmd.pid", "slurmctld": self.root / "slurmctld.pid",
                "munged": self.root / "munge" / "munged.pid"}
        for name in ("slurmd", "slurmctld", "munged"):
            if name in self._started:
                _terminate(pids[name])
        self._started.clear()


def _terminate(pid_file: Path, timeout: float = 10) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
