# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``tls_cert`` check type of health_check: days until a certificate expires, from a file or an endpoint
(STARTTLS included), with its chain and host name checked.  certs.py owns fetching, STARTTLS and the RFC 6125 host
name rule; this grades what it returns."""

from __future__ import annotations

import datetime
import time

from ansible_collections.runbook.ops.plugins.module_utils import _lazy
from ansible_collections.runbook.ops.plugins.module_utils import probe
from ansible_collections.runbook.ops.plugins.module_utils._time import utcnow

# certs.py (and through it ssl) is imported when a tls_cert probe runs: every health_check run imports this file
# to build its argspec, and a run without a tls_cert probe never needs it (bench/fleet measures that start-up).
# The STARTTLS protocols certs.py speaks (certs.STARTTLS_PROTOCOLS; a unit test keeps the two equal).
STARTTLS_PROTOCOLS = ('postgres',)


def _certs():
    from ansible_collections.runbook.ops.plugins.module_utils import certs
    return certs


def __getattr__(name):
    """``x509`` (cryptography, imported on first use: certs.py's stand-in) and ``hostname_matches`` (RFC 6125
    host name matching, wildcard as the whole left-most label only: certs.py owns the rule), read from certs.py
    on first use."""
    if name in ('x509', 'hostname_matches'):
        return getattr(_certs(), name)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


def _utc(cert, attr):
    value = getattr(cert, attr + '_utc', None)
    if value is None:    # cryptography < 42
        value = getattr(cert, attr).replace(tzinfo=datetime.timezone.utc)
    return value


def _fetch_leaf(check, source, deadline, verify):
    """The endpoint's leaf certificate, read by certs.py (its STARTTLS preambles included) within the time left.
    With ``verify`` the chain is checked against ``ca_cert`` (not the host name): a chain that does not verify
    raises ``ssl.SSLCertVerificationError``.  Raises :class:`probe.ProbeError` for anything else."""
    import ssl

    cert_utils = _certs()
    try:
        left = probe.time_left(deadline)
    except probe.ProbeTimeout:
        raise probe.ProbeError('Could not complete a TLS handshake with %s: timed out after %s s' % (source, probe.fmt(check['timeout'])))
    try:
        chain = cert_utils.fetch_endpoint_chain(check['host'], check.get('port', 443), server_name=check.get('server_name'),
                                                starttls=check.get('starttls'), timeout=left, verify=verify,
                                                cafile=check.get('ca_cert'))
    except cert_utils.CertError as exc:
        if isinstance(exc.cause, ssl.SSLCertVerificationError):
            raise exc.cause
        # a refused STARTTLS says what to do itself; socket and TLS errors are shown as they came
        raise probe.ProbeError('Could not complete a TLS handshake with %s: %s' % (source, exc.cause) if exc.cause
                               else str(exc))
    except ValueError as exc:
        raise probe.ProbeError('Could not parse the certificate of %s: %s' % (source, exc))
    return chain[0]


def run(check):
    import ssl

    cert_utils = _certs()
    chain_valid = hostname_valid = None
    verify_error = None
    if check.get('path'):
        try:
            with open(check['path'], 'rb') as f:
                data = f.read()
            cert = (cert_utils.x509.load_pem_x509_certificate(data) if b'-----BEGIN' in data
                    else cert_utils.x509.load_der_x509_certificate(data))
        except (OSError, ValueError) as exc:
            raise probe.ProbeError('Could not read certificate %r: %s' % (check['path'], exc))
        source = check['path']
    else:
        host, port = check['host'], check.get('port', 443)
        source = '%s:%s' % (host, port)
        deadline = time.monotonic() + check['timeout']
        try:
            cert = _fetch_leaf(check, source, deadline, True)
            chain_valid = True
        except ssl.SSLCertVerificationError as exc:
            chain_valid = False
            verify_error = probe.one_line(getattr(exc, 'verify_message', None) or exc)
            cert = _fetch_leaf(check, source, deadline, False)
        hostname_valid = cert_utils.hostname_matches(cert, check.get('server_name') or host)
    now = utcnow()
    not_after = _utc(cert, 'not_valid_after')
    not_before = _utc(cert, 'not_valid_before')
    days = round((not_after - now).total_seconds() / 86400.0, 2)
    result = probe.ProbeResult({
        'days_remaining': days,
        'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'not_before': not_before.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'subject': cert.subject.rfc4514_string(),
        'issuer': cert.issuer.rfc4514_string(),
        'serial_number': '%x' % cert.serial_number,
        'expired': now >= not_after,
        'not_yet_valid': now < not_before,
        'chain_valid': chain_valid,
        'hostname_valid': hostname_valid,
        'verify_error': verify_error,
    })
    if now >= not_after:
        result.add(probe.CRITICAL, 'certificate of %s expired on %s' % (source, result.metrics['not_after']))
    if now < not_before:
        result.add(probe.CRITICAL, 'certificate of %s is not valid before %s' % (source, result.metrics['not_before']))
    if check.get('validate_certs'):
        if chain_valid is False:
            result.add(probe.CRITICAL, 'certificate chain does not verify: %s' % verify_error)
        if hostname_valid is False:
            name = check.get('server_name') or check.get('host')
            result.add(probe.CRITICAL, 'certificate does not match host name %s' % name)
    return result


def _requirement(checks):
    """``('cryptography', import_error)`` when cryptography is not installed (checked without importing it)."""
    found, error = _lazy.available('cryptography')
    return None if found else ('cryptography', error)


PROBE_TYPE = probe.ProbeType(
    name='tls_cert', run=run,
    metrics={'days_remaining': (probe.LOWER, probe.levels(30, 7))},
    options=('host', 'port', 'server_name', 'starttls', 'path', 'ca_cert', 'validate_certs'),
    suboptions={
        'host': dict(type='str'),
        'port': dict(type='int'),
        'server_name': dict(type='str'),
        'starttls': dict(type='str', choices=list(STARTTLS_PROTOCOLS)),
        'path': dict(type='path'),
        'ca_cert': dict(type='path'),
        'validate_certs': dict(type='bool'),
    },
    required=('host', 'path'), required_any=True,
    mutually_exclusive=[('host', 'path')],
    required_by={'starttls': ('host',)},
    requirement=_requirement,
)
