"""TLS for real: a `dask scheduler` and `dask worker` processes on 127.0.0.1 started with certificates this test
makes (its own CA); `synsweep run --scheduler tls://...` computes a sweep through them, and clients without a
certificate signed by that CA are refused. Also the embedded cluster with `--security auto`.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from distributed import Client, Security

from synsweep.sweeps import open_result

from ..specs import hh_pair_doc

BIN = Path(sys.executable).parent
SPEC = hh_pair_doc("tls-test", [0.0, 0.004], duration=100, chunk_points=5)
START_TIMEOUT = 60  # s
RUN_TIMEOUT = 180  # s


# -- certificates ------------------------------------------------------------------------------------------
def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def make_pki(folder: Path, label: str) -> dict[str, Path]:
    """A CA and one node certificate signed by it (for scheduler, workers and client): ca, cert, key paths."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(f"{label} CA")).issuer_name(_name(f"{label} CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(f"{label} node")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem", "cert": folder / "node.pem", "key": folder / "node.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, paths["key"])
    return paths


def tls_args(pki: dict[str, Path]) -> list[str]:
    return ["--tls-ca-file", str(pki["ca"]), "--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"])]


# -- a TLS cluster of real processes ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory):
    """(scheduler address, pki) of a scheduler and two worker processes that speak TLS only."""
    root = tmp_path_factory.mktemp("tls")
    pki = make_pki(root / "pki", "synsweep-test")
    scheduler_file = root / "scheduler.json"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    logs = {name: open(root / f"{name}.log", "w") for name in ("scheduler", "workers")}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--protocol", "tls", "--no-dashboard", "--scheduler-file", str(scheduler_file),
                               *tls_args(pki)], stdout=logs["scheduler"], stderr=subprocess.STDOUT, env=env)]

    def log_text() -> str:
        return "\n".join(f"--- {n} ---\n{(root / f'{n}.log').read_text()[-3000:]}" for n in logs)

    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not scheduler_file.is_file():
            pytest.fail(f"the TLS scheduler did not start within {START_TIMEOUT} s\n{log_text()}")
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:"), address
        for _ in range(2):
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--host", "127.0.0.1",
                                           "--no-nanny", "--nthreads", "1", "--no-dashboard", *tls_args(pki)],
                                          stdout=logs["workers"], stderr=subprocess.STDOUT, env=env))
        security = Security(tls_ca_file=str(pki["ca"]), tls_client_cert=str(pki["cert"]),
                            tls_client_key=str(pki["key"]), require_encryption=True)
        with Client(address, security=security, timeout="30s") as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield address, pki
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)  # our own processes (no nanny: no children); a slow exit is killed
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in logs.values():
            f.close()


def synsweep(*args: str | Path, timeout: float = RUN_TIMEOUT,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "synsweep"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def data_only(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_attrs(deep=False)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tls.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


@pytest.fixture(scope="module")
def local_auto_tls(spec_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep on the embedded cluster, its scheduler and workers talking TLS with a throwaway certificate."""
    out = tmp_path_factory.mktemp("auto") / "auto.zarr"
    proc = synsweep("run", spec_path, "--out", out, "--workers", "2", "--security", "auto", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
def test_sweep_through_a_tls_scheduler_equals_the_local_run(tls_cluster, spec_path, local_auto_tls, tmp_path):
    address, pki = tls_cluster
    out = tmp_path / "tls.zarr"
    proc = synsweep("run", spec_path, "--out", out, "--scheduler", address, *tls_args(pki), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    xr.testing.assert_identical(data_only(open_result(out).load()), data_only(open_result(local_auto_tls).load()))
    assert (open_result(out).status == 1).all()


@pytest.mark.slow
def test_dask_config_file_gives_the_same_security(tls_cluster, spec_path, local_auto_tls, tmp_path):
    """--security FILE: dask's own config layout, paths relative to the file."""
    address, pki = tls_cluster
    config = pki["ca"].parent / "dask-tls.yaml"
    config.write_text(yaml.safe_dump({"distributed": {"comm": {"tls": {
        "ca-file": "ca.pem", "client": {"cert": "node.pem", "key": "node.key"}}}}}))
    out = tmp_path / "config.zarr"
    proc = synsweep("run", spec_path, "--out", out, "--scheduler", address, "--security", config, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    xr.testing.assert_identical(data_only(open_result(out).load()), data_only(open_result(local_auto_tls).load()))


@pytest.mark.slow
def test_dask_own_config_is_enough_for_a_tls_scheduler(tls_cluster, spec_path, local_auto_tls, tmp_path):
    """No TLS option at all: the certificates come from dask's own settings (DASK_DISTRIBUTED__COMM__TLS__*
    variables, as a ~/.config/dask file would give them)."""
    address, pki = tls_cluster
    dask_env = {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(pki["ca"]),
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(pki["cert"]),
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(pki["key"])}
    out = tmp_path / "dask-config.zarr"
    proc = synsweep("run", spec_path, "--out", out, "--scheduler", address, "--no-progress", env=dask_env)
    assert proc.returncode == 0, proc.stderr
    xr.testing.assert_identical(data_only(open_result(out).load()), data_only(open_result(local_auto_tls).load()))
    # a dask setting naming a file that is not there: one paragraph naming the setting, before anything runs
    missing = tmp_path / "missing.zarr"
    proc = synsweep("run", spec_path, "--out", missing, "--scheduler", address, "--no-progress",
                    env={**dask_env, "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(tmp_path / "nope.pem")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "dask setting 'distributed.comm.tls.ca-file (DASK_DISTRIBUTED__COMM__TLS__CA_FILE)'" in proc.stderr
    assert "does not exist" in proc.stderr and not missing.exists()
    # only a CA in dask's settings: the driver's own certificate is asked for, naming dask's keys too
    proc = synsweep("run", spec_path, "--out", missing, "--scheduler", address, "--no-progress",
                    env={"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(pki["ca"])})
    assert proc.returncode == 2 and "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT" in proc.stderr, proc.stderr
    assert not missing.exists()


def test_clients_without_the_certificates_are_refused(tls_cluster, spec_path, tmp_path):
    address, pki = tls_cluster
    # synsweep itself: a tls:// address without certificates is a user error, before anything is written
    out = tmp_path / "refused.zarr"
    proc = synsweep("run", spec_path, "--out", out, "--scheduler", address, "--no-progress", timeout=60)
    assert proc.returncode == 2 and "no certificates are given" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    # a certificate signed by another CA: the scheduler refuses the handshake
    other = make_pki(tmp_path / "other", "intruder")
    proc = synsweep("run", spec_path, "--out", out, "--scheduler", address, *tls_args(other), "--no-progress",
                    timeout=120)
    assert proc.returncode == 2 and "could not connect" in proc.stderr, proc.stderr
    assert not out.exists()
    intruders = {
        "another CA": Security(tls_ca_file=str(other["ca"]), tls_client_cert=str(other["cert"]),
                               tls_client_key=str(other["key"]), require_encryption=True),
        "the right CA, a foreign certificate": Security(tls_ca_file=str(pki["ca"]), tls_client_cert=str(other["cert"]),
                                                         tls_client_key=str(other["key"]), require_encryption=True),
    }
    for label, security in intruders.items():
        with pytest.raises((OSError, TimeoutError)):
            Client(address, security=security, timeout="5s")
            pytest.fail(f"a client with {label} was let in")
    # the right CA but no client certificate: the scheduler ends the TLS session (dask's TLS is mutual)
    host, port = address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    context.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw) as tls:
                if tls.recv(1) == b"":  # closed without a word: refused as well
                    raise ConnectionError("the scheduler closed the connection")
    # plain TCP to the TLS port
    with pytest.raises((OSError, TimeoutError)):
        Client(address.replace("tls://", "tcp://"), timeout="5s")
