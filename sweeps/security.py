"""TLS between the driver, the scheduler and the workers, with dask's own configuration.

    load_security(config_file="tls.yaml")                            # a dask config file (distributed.comm.tls)
    load_security(ca_file="ca.pem", cert="node.pem", key="node.key") # one certificate for every role
    load_security(auto=True)                                         # a throwaway certificate, in memory

All give a ``distributed.Security`` with ``require_encryption`` set: every connection is TLS, and both ends
must present a certificate signed by the CA (dask's TLS is mutual), so a client without one is refused.
The config file has the layout dask reads from ``~/.config/dask/*.yaml``::

    distributed:
      comm:
        tls:
          ca-file: ca.pem                    # relative paths: relative to the file's folder
          scheduler: {cert: node.pem, key: node.key}
          worker: {cert: node.pem, key: node.key}
          client: {cert: node.pem, key: node.key}

A role without its own cert and key uses the client's (as ``dask scheduler --tls-cert`` does), so one
certificate can serve the driver, an embedded scheduler and its workers. Mistakes raise
``SecurityError`` (a ``SpecError``) naming the option and the fix, before anything connects.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import SpecError, show

if TYPE_CHECKING:
    from distributed import Security

__all__ = ["SecurityError", "load_security", "is_tls_address", "ROLES"]

ROLES = ("client", "scheduler", "worker")
TLS_KEYS = ("ca-file", "ciphers", "min-version", "max-version", *ROLES)
_EXAMPLE = "distributed: {comm: {tls: {ca-file: ca.pem, client: {cert: node.pem, key: node.key}}}}"


class SecurityError(SpecError):
    """A TLS option that cannot be used: names the option, the problem and the fix."""

    def __init__(self, option: str, problem: str, fix: str):
        super().__init__(option, problem, fix, where="option")


def is_tls_address(address: str) -> bool:
    return address.strip().lower().startswith("tls://")


def _file(path: str, option: str, base: Path | None = None) -> str:
    p = Path(os.path.expanduser(path))
    if base is not None and not p.is_absolute():
        p = base / p
    if not p.is_file():
        raise SecurityError(option, f"the file {str(p)!r} does not exist", "give the path of a PEM file "
                            "(certificates: ca.pem, node.pem; private key: node.key)")
    if not os.access(p, os.R_OK):
        raise SecurityError(option, f"the file {str(p)!r} is not readable by this user",
                            f"make it readable (chmod u+r {p})")
    return str(p)


def _flatten(tree: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


def _from_config_file(path: str) -> dict[str, Any]:
    """``Security`` keyword arguments from a dask config file's ``distributed.comm.tls`` section."""
    option = "--security"
    source = Path(_file(path, option))
    try:
        raw = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        raise SecurityError(option, f"{str(source)!r} is not valid YAML: {getattr(exc, 'problem', exc)}",
                            "fix its syntax (indentation, a missing colon, an unclosed quote)") from None
    tls = raw
    for part in ("distributed", "comm", "tls"):
        tls = tls.get(part) if isinstance(tls, Mapping) else None
    if not isinstance(tls, Mapping) or not tls:
        raise SecurityError(option, f"{str(source)!r} has no distributed.comm.tls section",
                            f"write dask's TLS settings there, e.g. {_EXAMPLE}")
    unknown = [k for k in tls if k not in TLS_KEYS]
    if unknown:
        raise SecurityError(option, f"{str(source)!r}: distributed.comm.tls has unknown key(s) "
                            f"{', '.join(map(str, unknown))}", f"use only {', '.join(TLS_KEYS)}")
    kwargs: dict[str, Any] = {}
    for dotted, value in _flatten(tls, "tls").items():
        key = dotted.replace(".", "_").replace("-", "_")  # tls.client.cert -> tls_client_cert
        if key.endswith(("_cert", "_key", "_ca_file")):
            value = _file(str(value), f"--security ({dotted})", source.parent)
        kwargs[key] = value
    if "tls_ca_file" not in kwargs:
        raise SecurityError(option, f"{str(source)!r} names no CA (distributed.comm.tls.ca-file)",
                            "add ca-file: the certificate of the authority that signed the nodes' certificates")
    return kwargs


def load_security(config_file: str | None = None, *, ca_file: str | None = None, cert: str | None = None,
                  key: str | None = None, auto: bool = False, server: bool = False) -> Security:
    """A checked ``Security`` (TLS required) from a dask config file and/or certificate files, or ``auto``.

    ``ca_file``, ``cert`` and ``key`` override the config file's CA and every role's certificate and key.
    ``server``: the certificate will also serve a scheduler and workers started here (their TLS contexts
    are built now, so a key that does not match its certificate fails here, not in a worker).
    """
    from distributed import Security

    if auto:
        if config_file or ca_file or cert or key:
            raise SecurityError("--security", "'auto' makes its own certificate; it cannot be combined with "
                                "certificate files", "give either --security auto or the certificate files")
        try:
            return Security.temporary()
        except ImportError:
            raise SecurityError("--security", "'auto' needs the cryptography package, which is not installed",
                                "install it (pip install 'synsweep[cluster]') or give certificate files") from None
    kwargs: dict[str, Any] = _from_config_file(config_file) if config_file else {}
    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if (cert is None) != (key is None):
        missing = "--tls-key" if key is None else "--tls-cert"
        raise SecurityError(missing, "is missing: a certificate and its private key go together",
                            "give both --tls-cert and --tls-key")
    if ca_file is not None:
        kwargs["tls_ca_file"] = _file(ca_file, "--tls-ca-file")
    if cert is not None and key is not None:
        for role in ROLES:
            kwargs[f"tls_{role}_cert"] = _file(cert, "--tls-cert")
            kwargs[f"tls_{role}_key"] = _file(key, "--tls-key")
    if "tls_ca_file" not in kwargs:
        named = [o for o, v in given.items() if v is not None]
        raise SecurityError(named[0] if named else "--tls-ca-file", "TLS needs the CA certificate",
                            "give --tls-ca-file (or ca-file in the --security config file)")
    if "tls_client_cert" not in kwargs:
        raise SecurityError("--tls-cert", "the driver needs a certificate and key signed by the CA (dask's TLS "
                            "is mutual: the scheduler refuses clients without one)",
                            "give --tls-cert and --tls-key, or client: {cert, key} in the --security config file")
    for role in ("scheduler", "worker"):
        kwargs.setdefault(f"tls_{role}_cert", kwargs["tls_client_cert"])
        kwargs.setdefault(f"tls_{role}_key", kwargs.get("tls_client_key"))
    try:
        security = Security(require_encryption=True, **kwargs)
        security.get_connection_args("client")
        if server:
            security.get_listen_args("scheduler")
            security.get_listen_args("worker")
    except (ssl.SSLError, OSError, ValueError, TypeError) as exc:
        raise SecurityError("--security", f"the certificates cannot be used: {show(str(exc), 200)}",
                            "check that each certificate is PEM, that the key belongs to it, and that the CA "
                            "file holds the authority's certificate") from None
    return security
