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

dask's own settings of the same keys (``~/.config/dask/*.yaml``, ``DASK_CONFIG``, or variables such as
``DASK_DISTRIBUTED__COMM__TLS__CA_FILE`` and ``DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT``) come first; a
config file given here and the certificate options override them, so dask's config alone is enough for a
``tls://`` scheduler (``synsweep run --scheduler tls://...`` with no TLS option).

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

__all__ = ["SecurityError", "load_security", "dask_tls_configured", "is_tls_address", "ROLES"]

ROLES = ("client", "scheduler", "worker")
TLS_KEYS = ("ca-file", "ciphers", "min-version", "max-version", *ROLES)
_EXAMPLE = "distributed: {comm: {tls: {ca-file: ca.pem, client: {cert: node.pem, key: node.key}}}}"


class SecurityError(SpecError):
    """A TLS option that cannot be used: names the option, the problem and the fix."""

    def __init__(self, option: str, problem: str, fix: str, where: str = "option"):
        super().__init__(option, problem, fix, where=where)


def is_tls_address(address: str) -> bool:
    return address.strip().lower().startswith("tls://")


def _file(path: str, option: str, base: Path | None = None, where: str = "option") -> str:
    p = Path(os.path.expanduser(path))
    if base is not None and not p.is_absolute():
        p = base / p
    if not p.is_file():
        raise SecurityError(option, f"the file {str(p)!r} does not exist", "give the path of a PEM file "
                            "(certificates: ca.pem, node.pem; private key: node.key)", where)
    if not os.access(p, os.R_OK):
        raise SecurityError(option, f"the file {str(p)!r} is not readable by this user",
                            f"make it readable (chmod u+r {p})", where)
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


def _setting(dotted: str) -> str:
    """A ``tls.*`` key as dask's setting and environment variable, for messages."""
    env = "DASK_DISTRIBUTED__COMM__" + dotted.upper().replace("-", "_").replace(".", "__")
    return f"distributed.comm.{dotted} ({env})"


def _dask_tls_files() -> dict[str, str]:
    """dask's own TLS file settings as ``tls.*`` keys: ``distributed.comm.tls`` in ``~/.config/dask/*.yaml``
    (or ``DASK_CONFIG``) and the ``DASK_DISTRIBUTED__COMM__TLS__*`` variables; only those set (dask's default
    is null). Ciphers and TLS versions are left to ``Security``, which reads them from the same place."""
    import dask.config

    tls = dask.config.get("distributed.comm.tls", default=None)
    flat = _flatten(tls if isinstance(tls, Mapping) else {}, "tls")
    files = {k.replace("_", "-"): v for k, v in flat.items() if v is not None}  # a DASK_* ca_file is ca-file
    return {k: str(v) for k, v in files.items() if k == "tls.ca-file" or k.endswith((".cert", ".key"))}


def _from_dask_config() -> dict[str, Any]:
    """``Security`` keyword arguments from dask's own TLS file settings (``_dask_tls_files``), checked."""
    return {dotted.replace(".", "_").replace("-", "_"): _file(path, _setting(dotted), where="dask setting")
            for dotted, path in _dask_tls_files().items()}


def dask_tls_configured() -> bool:
    """Whether dask's own configuration names TLS certificates (``distributed.comm.tls``)."""
    return bool(_dask_tls_files())


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
    kwargs: dict[str, Any] = _from_dask_config()  # dask's own settings first; a file and options override them
    if config_file:
        kwargs.update(_from_config_file(config_file))
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
                            "give --tls-ca-file (or ca-file in the --security config file, or dask's own "
                            "setting distributed.comm.tls.ca-file, DASK_DISTRIBUTED__COMM__TLS__CA_FILE)")
    if "tls_client_cert" not in kwargs:
        raise SecurityError("--tls-cert", "the driver needs a certificate and key signed by the CA (dask's TLS "
                            "is mutual: the scheduler refuses clients without one)",
                            "give --tls-cert and --tls-key, or client: {cert, key} in the --security config file "
                            "or in dask's own distributed.comm.tls (DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT, "
                            "..._KEY)")
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
