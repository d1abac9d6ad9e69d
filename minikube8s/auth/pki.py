"""The cluster's certificates: one CA, and a serving certificate per control plane.

kube-apiserver needs a certificate that kubectl (Go's crypto/tls: SANs only, no CN fallback)
and the Python client (OpenSSL) both accept; k3s makes its own CA on first start and signs
the serving certificate with it, and so do we. Keys are ECDSA P-256 (fast to make, small,
accepted everywhere). The CA itself is shared between control planes through the store
(credentials.py); the serving certificate is per control plane and is re-issued at start
whenever a wanted SAN is missing, it is not signed by the current CA, or it is about to expire.

The kubelets serve HTTPS too (Kubernetes' model): each node's kubelet has a serving
certificate signed by the CA for its IPs and name (``issue_kubelet_cert``; a joining node gets
it from the join, a control-plane node issues its own), and each API server holds a client
certificate ``kube-apiserver-kubelet-client`` (``ensure_kubelet_client_cert``) that it presents
to the kubelets, which accept no one else (roles/kubelet/server.py). A client certificate, not a
shared bearer token: a kubelet that receives a token could replay it to every other kubelet,
while a certificate proves possession of a key the kubelet never sees.

Files (DATA_DIR/pki): ca.crt, ca.key, apiserver.crt, apiserver.key,
apiserver-kubelet-client.crt/.key (control planes), kubelet.crt, kubelet.key (nodes); keys are
0600 and every file is written atomically (a reader never sees half a PEM).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..files import write_private

PKI_DIR = "pki"
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVING_CERT = "apiserver.crt"
SERVING_KEY = "apiserver.key"
KUBELET_CERT = "kubelet.crt"
KUBELET_KEY = "kubelet.key"
KUBELET_CLIENT_CERT = "apiserver-kubelet-client.crt"
KUBELET_CLIENT_KEY = "apiserver-kubelet-client.key"
KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"
"""The only client a kubelet serves (kube-apiserver's --kubelet-client-certificate CN);
node certificates are ``system:node:<name>`` and node names hold no ':', so none collides."""

CA_DAYS = 3650
SERVING_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)
"""A serving certificate closer than this to its end is re-issued at start."""

SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")

_CLOCK_SKEW = datetime.timedelta(hours=1)
"""Certificates start an hour in the past: a node whose clock is a little behind still
accepts them."""


class PKIError(Exception):
    """A certificate or key file that cannot be read or does not fit; names the file."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def ca_fingerprint(ca_pem: bytes) -> str:
    """SHA-256 (hex) of the CA PEM bytes exactly as ``GET /cacerts`` serves them: the hash a
    join token carries, so a joining node can check it talks to the right cluster."""
    return hashlib.sha256(ca_pem).hexdigest()


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PKIError("the CA key is not an ECDSA key")
        return key

    def check(self) -> None:
        """The key belongs to the certificate (a mismatched pair is refused, not served)."""
        try:
            cert_pub = self.cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            key_pub = self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        except ValueError as e:
            raise PKIError(f"unreadable CA: {e}") from e
        if cert_pub != key_pub:
            raise PKIError("the CA key does not match the CA certificate")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_ca(common_name: str = "minikube8s-ca") -> CertificateAuthority:
    """A self-signed CA for ten years."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# -- serving certificate -------------------------------------------------------------------------


def wanted_sans(*, node_ip: str = "", node_name: str = "", portal_net: str = "",
                extra: Iterable[str] = ()) -> list[str]:
    """Every name a client may dial this API server by (spec: loopback, the node's address and
    names, the ``kubernetes`` service's portal IP and DNS names, and --tls-san)."""
    names = ["127.0.0.1", "::1", "localhost"]
    if node_ip:
        names.append(node_ip)
    names.append(socket.gethostname())
    if node_name:
        names.append(node_name)
    if portal_net:
        try:
            net = ipaddress.ip_network(portal_net, strict=False)
        except ValueError:
            pass
        else:
            names.append(str(net.network_address + 1) if net.num_addresses > 2
                         else str(net.network_address))
    names.extend(SERVICE_NAMES)
    names.extend(s.strip() for s in extra if s.strip())
    return list(dict.fromkeys(_canonical(n) for n in names if n))


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return name.lower().rstrip(".")


def _general_names(sans: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in sans:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _cert_sans(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    ips = {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    dns = {d.lower() for d in ext.get_values_for_type(x509.DNSName)}
    return ips | dns


def issue_serving_cert(ca: CertificateAuthority, sans: Iterable[str], *,
                       common_name: str = "kube-apiserver") -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) for a TLS server answering to ``sans``, signed by ``ca``."""
    return _issue(ca, common_name=common_name, sans=list(sans),
                  usage=ExtendedKeyUsageOID.SERVER_AUTH)


def issue_client_cert(ca: CertificateAuthority, common_name: str) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) for a TLS client named ``common_name`` (no SANs), signed by
    ``ca``."""
    return _issue(ca, common_name=common_name, sans=[], usage=ExtendedKeyUsageOID.CLIENT_AUTH)


def kubelet_sans(node_name: str, addresses: Iterable[str]) -> list[str]:
    """What a kubelet's serving certificate names: its IPs (the API server dials the Node's
    InternalIP) and its node name."""
    names = [_canonical(a) for a in addresses if a]
    names.append(_canonical(node_name))
    return list(dict.fromkeys(n for n in names if n))


def issue_kubelet_cert(ca: CertificateAuthority, node_name: str,
                       addresses: Iterable[str]) -> tuple[bytes, bytes]:
    """The kubelet serving certificate of ``node_name`` (CN ``system:node:<name>``, as
    kubelet's own self-signed one), for its ``addresses`` and name."""
    return issue_serving_cert(ca, kubelet_sans(node_name, addresses),
                              common_name=f"system:node:{node_name}")


def _issue(ca: CertificateAuthority, *, common_name: str, sans: list[str],
           usage: x509.ObjectIdentifier) -> tuple[bytes, bytes]:
    key = _new_key()
    ca_cert = ca.cert
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=SERVING_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca.key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_general_names(sans)), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def serving_cert_fits(cert_pem: bytes, key_pem: bytes, ca: CertificateAuthority | bytes,
                      sans: Iterable[str]) -> bool:
    """Whether a stored serving (or client: no SANs wanted) certificate can be kept: signed
    by ``ca`` (the CA, or just its certificate PEM, as a node holds it), holding every wanted
    SAN, matching its key, and not about to expire."""
    try:
        ca_cert = x509.load_pem_x509_certificate(ca) if isinstance(ca, bytes) else ca.cert
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, pub):
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    return set(sans) <= _cert_sans(cert)


@dataclass(frozen=True, slots=True)
class ServingFiles:
    ca_cert: Path
    cert: Path
    key: Path


def write_ca(pki_dir: Path, ca: CertificateAuthority) -> Path:
    """Mirror the (shared) CA into ``pki_dir``; files already holding it are left alone."""
    ca.check()
    for name, data, mode in ((CA_CERT, ca.cert_pem, 0o644), (CA_KEY, ca.key_pem, 0o600)):
        path = pki_dir / name
        try:
            if path.read_bytes() == data:
                continue
        except OSError:
            pass
        write_private(path, data, mode=mode)
    return pki_dir / CA_CERT


def read_ca(pki_dir: Path) -> CertificateAuthority | None:
    """The CA in ``pki_dir``, or None when either file is missing."""
    try:
        ca = CertificateAuthority((pki_dir / CA_CERT).read_bytes(),
                                  (pki_dir / CA_KEY).read_bytes())
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PKIError(f"cannot read the CA in {pki_dir}: {e}") from e
    ca.check()
    return ca


def ensure_serving_cert(pki_dir: Path, ca: CertificateAuthority,
                        sans: Iterable[str]) -> ServingFiles:
    """CA files plus a serving certificate that fits (re-issued when it does not)."""
    wanted = list(sans)
    ca_file = write_ca(pki_dir, ca)
    cert_path, key_path = pki_dir / SERVING_CERT, pki_dir / SERVING_KEY
    try:
        fits = serving_cert_fits(cert_path.read_bytes(), key_path.read_bytes(), ca, wanted)
    except OSError:
        fits = False
    if not fits:
        cert_pem, key_pem = issue_serving_cert(ca, wanted)
        write_private(key_path, key_pem)
        write_private(cert_path, cert_pem, mode=0o644)
    return ServingFiles(ca_file, cert_path, key_path)


def ensure_cert_pair(cert_path: Path, key_path: Path, ca: CertificateAuthority,
                     issue: Callable[[], tuple[bytes, bytes]],
                     sans: Iterable[str] = ()) -> bool:
    """Keep ``cert_path``/``key_path`` when they fit ``ca`` and ``sans``, else write what
    ``issue()`` makes. True when it issued."""
    try:
        if serving_cert_fits(cert_path.read_bytes(), key_path.read_bytes(), ca, sans):
            return False
    except OSError:
        pass
    cert_pem, key_pem = issue()
    write_private(key_path, key_pem)
    write_private(cert_path, cert_pem, mode=0o644)
    return True


def ensure_kubelet_client_cert(pki_dir: Path, ca: CertificateAuthority) -> tuple[Path, Path]:
    """This API server's client certificate for talking to kubelets (cert, key paths)."""
    cert_path, key_path = pki_dir / KUBELET_CLIENT_CERT, pki_dir / KUBELET_CLIENT_KEY
    ensure_cert_pair(cert_path, key_path, ca, lambda: issue_client_cert(ca, KUBELET_CLIENT_CN))
    return cert_path, key_path


def cert_sans(cert_pem: bytes) -> set[str]:
    """The SANs (canonical IPs, lower-case names) of a PEM certificate; empty if unreadable."""
    try:
        return _cert_sans(x509.load_pem_x509_certificate(cert_pem))
    except ValueError:
        return set()


def server_ssl_context(files: ServingFiles) -> ssl.SSLContext:
    """TLS 1.2+ server context with the serving certificate (no client certificates)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(files.cert), str(files.key))
    except (OSError, ssl.SSLError) as e:
        raise PKIError(f"cannot load the serving certificate {files.cert}: {e}") from e
    # HTTP/1.1 only: aiohttp does not speak h2, and Go's client would otherwise offer it.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def kubelet_server_ssl_context(cert: Path, key: Path, ca_file: Path) -> ssl.SSLContext:
    """The kubelet's TLS: its serving certificate, and client certificates verified against
    the cluster CA when offered (optional at the TLS layer, so a client without one gets a
    401 Status, not a failed handshake; server.py decides who may pass)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as e:
        raise PKIError(f"cannot load the kubelet certificate {cert}: {e}") from e
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def kubelet_client_ssl_context(ca_pem: bytes, cert: Path, key: Path) -> ssl.SSLContext:
    """The API server's TLS towards kubelets: verify them with the cluster CA (the host
    name checked is the address dialled), present the kubelet client certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem.decode())
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as e:
        raise PKIError(f"cannot load the kubelet client certificate {cert}: {e}") from e
    return ctx


def peer_common_name(peercert: object) -> str:
    """The subject CN of ``SSLSocket.getpeercert()``'s dict (a verified peer), else ""."""
    if not isinstance(peercert, dict):
        return ""
    for rdn in peercert.get("subject") or ():
        for attr in rdn:
            if len(attr) == 2 and attr[0] == "commonName":
                return str(attr[1])
    return ""
