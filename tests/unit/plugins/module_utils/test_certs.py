# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/certs.py (no network, no server)."""
from __future__ import annotations

import datetime
import ipaddress

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.runbook.ops.plugins.module_utils import certs

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def make(names=('a.test',), before=-10, after=80, issuer=None, cn=None, san=True, now=None):
    """A certificate valid from ``before`` to ``after`` days around ``now`` (default: the fixed NOW)."""
    now = now or NOW
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])])
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer[0].subject if issuer else subject).public_key(key.public_key())
         .serial_number(0x1f2e3d).not_valid_before(now + datetime.timedelta(days=before))
         .not_valid_after(now + datetime.timedelta(days=after)))
    if san:
        entries = []
        for n in names:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                entries.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return key, b.sign(issuer[1] if issuer else key, hashes.SHA256())


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


class TestRenewalDecision:
    def test_default_threshold_is_30_days(self):
        assert certs.renewal_decision(NOW - datetime.timedelta(days=60), NOW + datetime.timedelta(days=29), NOW) == \
            (True, '29.0 days left (< 30)')
        assert certs.renewal_decision(NOW - datetime.timedelta(days=60), NOW + datetime.timedelta(days=31), NOW)[0] \
            is False

    def test_days_threshold(self):
        due, reason = certs.renewal_decision(NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=10), NOW,
                                             renew_before_days=7)
        assert (due, reason) == (False, '10.0 days left (>= 7)')

    def test_pct_threshold(self):
        nb, na = NOW - datetime.timedelta(days=60), NOW + datetime.timedelta(days=30)
        assert certs.renewal_decision(nb, na, NOW, renew_before_pct=40) == \
            (True, '33.3% of the lifetime left (< 40%)')
        assert certs.renewal_decision(nb, na, NOW, renew_before_pct=30)[0] is False

    def test_expired_and_not_yet_valid_always_due(self):
        assert certs.renewal_decision(NOW - datetime.timedelta(days=90), NOW - datetime.timedelta(seconds=1), NOW,
                                      renew_before_days=0)[0] is True
        due, reason = certs.renewal_decision(NOW + datetime.timedelta(days=1), NOW + datetime.timedelta(days=90), NOW,
                                             renew_before_days=0)
        assert due is True and reason.startswith('not valid before 2026-11-24T12:00:00Z')


class TestHostname:
    @pytest.mark.parametrize('name,expected', [
        ('www.example.org', True), ('WWW.Example.ORG.', True), ('x.wild.example.org', True),
        ('a.b.wild.example.org', False), ('wild.example.org', False), ('example.org', False),
        ('127.0.0.1', True), ('127.0.0.2', False), ('www.example.org\x00.evil', False), ('*', False),
    ])
    def test_san_matching(self, name, expected):
        dummy, c = make(('www.example.org', '*.wild.example.org', '127.0.0.1'))
        assert certs.hostname_matches(c, name) is expected

    def test_cn_used_only_without_san(self):
        dummy, c = make(('legacy.test',), san=False)
        assert certs.hostname_matches(c, 'legacy.test') is True
        dummy, c2 = make(('san.test',), cn='legacy.test')
        assert certs.hostname_matches(c2, 'legacy.test') is False

    # The one wildcard rule (RFC 6125 6.4.3), used by cert_info, cert_renew and the health_check tls_cert probe:
    # a wildcard only as the whole left-most label, matching exactly one non-empty label.
    @pytest.mark.parametrize('pattern,name,expected', [
        ('*.example.com', 'www.example.com', True),
        ('*.example.com', 'WWW.EXAMPLE.COM.', True),
        ('*.example.com', 'example.com', False),              # the wildcard label must match something
        ('*.example.com', '.example.com', False),             # ... not an empty label
        ('*.example.com', 'a.b.example.com', False),          # no match across dots
        ('*.*.example.com', 'a.b.example.com', False),        # one wildcard, left-most only
        ('*.*.example.com', 'a.*.example.com', False),
        ('www.*.example.com', 'www.a.example.com', False),    # not in another label
        ('w*.example.com', 'www.example.com', False),         # no partial wildcards
        ('*w.example.com', 'ww.example.com', False),
        ('*', 'localhost', False),
        ('*.', 'com', False),
    ])
    def test_one_wildcard_rule(self, pattern, name, expected):
        dummy, c = make((pattern,))
        assert certs.hostname_matches(c, name) is expected
        dummy, legacy = make((pattern,), san=False)          # the same rule for a CN without SAN
        assert certs.hostname_matches(legacy, name) is expected


class TestDescribe:
    def test_leaf_and_chain(self):
        ca_key, ca = make(('Test CA',), before=-100, after=1000)
        dummy, leaf = make(('www.example.org',), issuer=(ca, ca_key))
        chain = certs.load_pem_chain(b'junk\n' + pem(leaf) + b'\n-----BEGIN PRIVATE KEY-----\nxx\n' + pem(ca))
        info = certs.describe(chain, server_name='www.example.org', now=NOW)
        assert info['serial'] == '1f2e3d'
        assert info['subject'] == 'CN=www.example.org'
        assert info['issuer'] == 'CN=Test CA'
        assert info['chain_length'] == 2
        assert info['chain'][0]['subject'] == 'CN=Test CA'
        assert info['self_signed'] is False
        assert info['hostname_matches'] is True
        assert info['days_remaining'] == 80 and info['should_renew'] is False
        assert info['not_after'] == '2027-02-11T12:00:00Z'
        assert info['public_key'] == 'ec-secp256r1'

    def test_self_signed_expired(self):
        dummy, c = make(before=-100, after=-1)
        info = certs.describe([c], now=NOW)
        assert info['self_signed'] is True
        assert info['expired'] is True and info['days_remaining'] == -1 and info['should_renew'] is True
        assert info['hostname_matches'] is None

    def test_same_subject_other_key_is_not_self_signed(self):
        other_key, other = make(('a.test',))
        dummy, c = make(('a.test',), issuer=(other, other_key))
        # issuer name == subject name, but signed by another key
        assert c.issuer == c.subject
        assert certs.is_self_signed(c) is False

    def test_no_certificate(self):
        with pytest.raises(certs.CertError, match='no PEM CERTIFICATE block'):
            certs.load_pem_chain(b'-----BEGIN PRIVATE KEY-----\n', '/x.pem')

    def test_missing_file_is_due_not_error(self, tmp_path):
        info = certs.read_file_info(str(tmp_path / 'none.pem'))
        assert info == {'exists': False, 'source': str(tmp_path / 'none.pem'), 'should_renew': True,
                        'renew_reason': 'certificate file %s does not exist' % (tmp_path / 'none.pem')}

    def test_endless_file_is_refused(self):
        with pytest.raises(certs.CertError, match='/dev/zero: it is larger than 4194304 bytes'):
            certs.load_chain_file('/dev/zero')

    def test_truncated_certificate(self, tmp_path):
        dummy, c = make()
        p = tmp_path / 'c.pem'
        text = pem(c)
        p.write_bytes(text[:60] + text[-30:])
        with pytest.raises(certs.CertError, match=r'Could not parse certificate #1 of .*c\.pem'):
            certs.load_chain_file(str(p))


class FakeSock:
    def __init__(self, answer):
        self.answer = answer
        self.sent = b''

    def sendall(self, data):
        self.sent += data

    def recv(self, n):
        return self.answer[:n]


class TestPostgresStarttls:
    def test_sends_sslrequest(self):
        s = FakeSock(b'S')
        certs._postgres_starttls(s, 'db', 5432)
        assert s.sent == b'\x00\x00\x00\x08\x04\xd2\x16\x2f'

    def test_ssl_off(self):
        with pytest.raises(certs.CertError, match=r'answered the SSLRequest with N \(ssl = off\)'):
            certs._postgres_starttls(FakeSock(b'N'), 'db', 5432)

    def test_not_postgres(self):
        with pytest.raises(certs.CertError, match="unexpected answer b'H'"):
            certs._postgres_starttls(FakeSock(b'HTTP/1.1 400'), 'db', 5432)


def test_connect_refused_message():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    with pytest.raises(certs.CertError, match=r'Could not connect to 127\.0\.0\.1:%d' % port):
        certs.fetch_endpoint_chain('127.0.0.1', port, timeout=2)
