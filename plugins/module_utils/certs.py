# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read X.509 certificates from files or live TLS endpoints and decide on renewal.

Used by ``cert_info`` (read-only) and ``cert_renew`` (the renewal decision and the
old/new summaries).  Everything here is pure functions over ``cryptography``
objects, plus one socket helper, so it is unit-testable without a server.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
import struct

from ansible_collections.runbook.ops.plugins.module_utils import _lazy

# cryptography is imported on first use
HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMP_ERR = _lazy.available('cryptography')
x509 = _lazy.module('cryptography.x509')
crypto_exceptions = _lazy.module('cryptography.exceptions')
serialization = _lazy.module('cryptography.hazmat.primitives.serialization')
ec = _lazy.module('cryptography.hazmat.primitives.asymmetric.ec')
rsa = _lazy.module('cryptography.hazmat.primitives.asymmetric.rsa')
ExtensionOID = _lazy.attr('cryptography.x509.oid', 'ExtensionOID')
NameOID = _lazy.attr('cryptography.x509.oid', 'NameOID')

from ansible_collections.runbook.ops.plugins.module_utils._time import utcnow

DEFAULT_RENEW_BEFORE_DAYS = 30
MAX_PEM_BYTES = 4 * 1024 * 1024
PEM_BEGIN = b'-----BEGIN CERTIFICATE-----'
PEM_END = b'-----END CERTIFICATE-----'
# PostgreSQL SSLRequest: Int32 length 8, Int32 code 80877103 (1234 << 16 | 5679).
PG_SSLREQUEST = struct.pack('!ii', 8, 80877103)
# protocols whose STARTTLS preamble fetch_endpoint_chain() speaks
STARTTLS_PROTOCOLS = ('postgres',)


class CertError(Exception):
    """A certificate could not be read; the message is ready for fail_json.  ``cause`` is the socket or TLS
    exception behind it, if any (callers that word their own messages, like the health_check probe, use it)."""

    def __init__(self, message, cause=None):
        super(CertError, self).__init__(message)
        self.cause = cause


def iso(dt):
    """ISO 8601 in UTC with a Z suffix, seconds precision."""
    return dt.astimezone(datetime.timezone.utc).replace(microsecond=0).strftime('%Y-%m-%dT%H:%M:%SZ')


def serial_hex(cert):
    """Serial as lowercase hex without 0x (pebble's cert-status-by-serial form)."""
    return format(cert.serial_number, 'x')


def split_pem_certificates(data):
    """Return the PEM certificate blocks of ``data`` (bytes) in order; keys and junk are skipped."""
    blocks = []
    pos = 0
    while True:
        start = data.find(PEM_BEGIN, pos)
        if start < 0:
            break
        end = data.find(PEM_END, start)
        if end < 0:
            break
        end += len(PEM_END)
        blocks.append(data[start:end] + b'\n')
        pos = end
    return blocks


def load_pem_chain(data, source='the data'):
    """Parse every certificate of a PEM bundle; the first one is the leaf."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    blocks = split_pem_certificates(data)
    if not blocks:
        raise CertError('Could not read a certificate from %s: no PEM CERTIFICATE block found. '
                        'Point the path at a PEM certificate (cert, fullchain or bundle).' % source)
    certs = []
    for i, block in enumerate(blocks):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as e:
            raise CertError('Could not parse certificate #%d of %s: %s. Check that the file is not truncated.'
                            % (i + 1, source, e))
    return certs


def load_chain_file(path):
    try:
        with open(path, 'rb') as f:
            data = f.read(MAX_PEM_BYTES + 1)
    except OSError as e:
        raise CertError('Could not read certificate file %s: %s. Check the path and its permissions.'
                        % (path, e.strerror or e))
    if len(data) > MAX_PEM_BYTES:
        raise CertError('Could not read certificate file %s: it is larger than %d bytes, which no certificate bundle '
                        'is. Check the path.' % (path, MAX_PEM_BYTES))
    return load_pem_chain(data, path)


def _der_chain_from_sslobj(sock):
    """Every certificate the peer sent (leaf first), as DER bytes.

    Python 3.10+ has the private ``_sslobj.get_unverified_chain()`` (public from 3.13);
    older interpreters give the leaf only.
    """
    leaf = sock.getpeercert(binary_form=True)
    sslobj = getattr(sock, '_sslobj', None)
    getter = getattr(sslobj, 'get_unverified_chain', None)
    if getter is None:
        return [leaf] if leaf else []
    chain = []
    try:
        for c in getter() or []:
            chain.append(c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER))  # pylint: disable=protected-access
    except (AttributeError, ValueError, ssl.SSLError):
        chain = []
    if not chain and leaf:
        chain = [leaf]
    return chain


def _postgres_starttls(sock, host, port):
    sock.sendall(PG_SSLREQUEST)
    answer = sock.recv(1)
    if answer == b'S':
        return
    if answer == b'N':
        raise CertError('Could not start TLS with PostgreSQL at %s:%s: the server answered the SSLRequest with N '
                        '(ssl = off). Enable ssl in postgresql.conf or drop starttls.' % (host, port))
    raise CertError('Could not start TLS with PostgreSQL at %s:%s: unexpected answer %r to the SSLRequest. '
                    'Check that the port is a PostgreSQL server.' % (host, port, answer[:1]))


def fetch_endpoint_chain(host, port, server_name=None, starttls=None, timeout=10.0, verify=False, cafile=None):
    """Connect to ``host:port`` (optionally after a STARTTLS preamble) and return the peer chain.

    Verification is off by default on purpose: the point is to read expired, self-signed or
    wrong-host certificates too.  With ``verify`` the chain is verified against ``cafile`` (or the
    system store), never the host name (see :func:`hostname_matches`): a chain that does not verify
    raises :class:`CertError` whose ``cause`` is the ``ssl.SSLCertVerificationError``.
    Returns a list of ``x509.Certificate`` (leaf first).
    """
    sni = server_name or host
    try:
        ipaddress.ip_address(sni)
        sni_arg = None  # SNI must not carry an IP address
    except ValueError:
        sni_arg = sni
    if verify:
        try:
            ctx = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as e:
            raise CertError('Could not load the CA bundle %s: %s. Check the path and that it holds PEM certificates.'
                            % (cafile, e), cause=e)
        ctx.check_hostname = False
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise CertError('Could not connect to %s:%s: %s. Check host, port and that the service is listening.'
                        % (host, port, e.strerror or e), cause=e)
    try:
        raw.settimeout(timeout)
        if starttls == 'postgres':
            _postgres_starttls(raw, host, port)
        try:
            tls = ctx.wrap_socket(raw, server_hostname=sni_arg)
        except (ssl.SSLError, OSError) as e:
            raise CertError('Could not complete a TLS handshake with %s:%s (SNI %s): %s. Check that the port speaks '
                            'TLS%s.' % (host, port, sni, e, '' if starttls else ' directly (use starttls for PostgreSQL)'),
                            cause=e)
        try:
            ders = _der_chain_from_sslobj(tls)
        finally:
            tls.close()
    except socket.timeout as e:
        raise CertError('Could not read the certificate of %s:%s: timed out after %ss. Check that the port '
                        'speaks TLS%s.' % (host, port, timeout, '' if starttls else ' (use starttls for PostgreSQL)'),
                        cause=e)
    except OSError as e:
        raise CertError('Could not read the certificate of %s:%s: %s.' % (host, port, e.strerror or e), cause=e)
    finally:
        raw.close()
    if not ders:
        raise CertError('Could not read the certificate of %s:%s: the server sent none.' % (host, port))
    return [x509.load_der_x509_certificate(d) for d in ders]


def subject_alt_names(cert):
    """DNS names and IP addresses from the SAN extension, as plain strings."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    names = list(ext.get_values_for_type(x509.DNSName))
    names += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return names


def common_name(name):
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else None


def _dns_match(pattern, host):
    pattern = pattern.lower().rstrip('.')
    host = host.lower().rstrip('.')
    if pattern == host:
        return True
    # RFC 6125: a wildcard only as the whole left-most label, matching exactly one label
    if pattern.startswith('*.') and '*' not in pattern[2:]:
        head, sep, rest = host.partition('.')
        return bool(sep) and bool(head) and rest == pattern[2:]
    return False


def hostname_matches(cert, hostname):
    """True when ``hostname`` (DNS name or IP) is covered by the SANs (CN only when there is no SAN)."""
    if not hostname:
        return None
    try:
        ip = ipaddress.ip_address(hostname)
    except ValueError:
        ip = None
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        ext = None
    if ext is not None:
        if ip is not None:
            return ip in ext.get_values_for_type(x509.IPAddress)
        return any(_dns_match(p, hostname) for p in ext.get_values_for_type(x509.DNSName))
    cn = common_name(cert.subject)
    if cn is None or ip is not None:
        return False
    return _dns_match(cn, hostname)


def is_self_signed(cert):
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except (ValueError, TypeError, crypto_exceptions.InvalidSignature):
        return False


def key_description(public_key):
    if isinstance(public_key, rsa.RSAPublicKey):
        return 'rsa%d' % public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return 'ec-%s' % public_key.curve.name
    return type(public_key).__name__.lower()


def renewal_decision(not_before, not_after, now=None, renew_before_days=None, renew_before_pct=None):
    """Return ``(should_renew, reason)``.

    ``renew_before_pct`` is the share of the lifetime (0-100) that must remain; when it
    is not given, ``renew_before_days`` (default 30) days must remain.
    """
    now = now or utcnow()
    remaining = (not_after - now).total_seconds()
    if remaining <= 0:
        return True, 'expired on %s' % iso(not_after)
    if now < not_before:
        return True, 'not valid before %s' % iso(not_before)
    if renew_before_pct is not None:
        lifetime = (not_after - not_before).total_seconds()
        left_pct = 100.0 * remaining / lifetime if lifetime > 0 else 0.0
        if left_pct < renew_before_pct:
            return True, '%.1f%% of the lifetime left (< %s%%)' % (left_pct, renew_before_pct)
        return False, '%.1f%% of the lifetime left (>= %s%%)' % (left_pct, renew_before_pct)
    days = DEFAULT_RENEW_BEFORE_DAYS if renew_before_days is None else renew_before_days
    if remaining < days * 86400:
        return True, '%.1f days left (< %s)' % (remaining / 86400.0, days)
    return False, '%.1f days left (>= %s)' % (remaining / 86400.0, days)


def brief(cert):
    """Short summary used in chains, diffs and old/new results."""
    return {
        'subject': cert.subject.rfc4514_string(),
        'issuer': cert.issuer.rfc4514_string(),
        'serial': serial_hex(cert),
        'not_after': iso(cert.not_valid_after_utc),
    }


def describe(chain, server_name=None, now=None, renew_before_days=None, renew_before_pct=None):
    """The cert_info result for a chain (leaf first)."""
    now = now or utcnow()
    leaf = chain[0]
    not_before = leaf.not_valid_before_utc
    not_after = leaf.not_valid_after_utc
    remaining = (not_after - now).total_seconds()
    should_renew, reason = renewal_decision(not_before, not_after, now, renew_before_days, renew_before_pct)
    der = leaf.public_bytes(serialization.Encoding.DER)
    return {
        'subject': leaf.subject.rfc4514_string(),
        'common_name': common_name(leaf.subject),
        'subject_alt_names': subject_alt_names(leaf),
        'issuer': leaf.issuer.rfc4514_string(),
        'serial': serial_hex(leaf),
        'fingerprint_sha256': hashlib.sha256(der).hexdigest(),
        'public_key': key_description(leaf.public_key()),
        'not_before': iso(not_before),
        'not_after': iso(not_after),
        'days_remaining': int(remaining / 86400.0),
        'seconds_remaining': int(remaining),
        'expired': remaining <= 0,
        'not_yet_valid': now < not_before,
        'self_signed': is_self_signed(leaf),
        'hostname_matches': hostname_matches(leaf, server_name) if server_name else None,
        'chain_length': len(chain),
        'chain': [brief(c) for c in chain[1:]],
        'should_renew': should_renew,
        'renew_reason': reason,
        'checked_at': iso(now),
    }


def read_file_info(path, **kwargs):
    """cert_info for a file; a missing file is reported (exists=false, should_renew=true), not raised."""
    if not os.path.exists(path):
        return {'exists': False, 'source': path, 'should_renew': True,
                'renew_reason': 'certificate file %s does not exist' % path}
    info = describe(load_chain_file(path), **kwargs)
    info.update({'exists': True, 'source': path})
    return info


def read_endpoint_info(host, port, server_name=None, starttls=None, timeout=10.0, **kwargs):
    chain = fetch_endpoint_chain(host, port, server_name=server_name, starttls=starttls, timeout=timeout)
    info = describe(chain, server_name=server_name or host, **kwargs)
    endpoint = '%s:%s' % (host, port)
    info.update({'exists': True, 'source': endpoint, 'endpoint': endpoint, 'server_name': server_name or host})
    return info
