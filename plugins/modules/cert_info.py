#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: cert_info
short_description: Read a TLS certificate from a file or a live endpoint and decide on renewal
version_added: 0.1.0
description:
  - Reads an X.509 certificate from a PEM file (the first certificate is the leaf, the rest the chain)
    or from a live TLS endpoint (host, port, SNI name), optionally after PostgreSQL's C(SSLRequest)
    STARTTLS preamble.
  - Returns subject, SANs, issuer, serial, validity dates, days remaining, whether the certificate is
    expired, not yet valid, self-signed, whether it matches the expected host name, the chain, and
    whether it should be renewed given O(renew_before_days) or O(renew_before_pct).
  - The endpoint is read without verification on purpose, so expired, self-signed and wrong-host
    certificates are reported rather than rejected.
  - Read-only; never reports C(changed).
author:
  - runbook.ops maintainers (@runbook-ops)
requirements:
  - cryptography >= 42.0
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    support: none
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    support: full
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - The module only reads; C(days_remaining) and C(should_renew) follow the clock.
options:
  path:
    description:
      - PEM file holding the certificate (a cert, a fullchain or a bundle; the first certificate is the leaf).
      - A missing file is not an error; the result then has RV(exists=false) and RV(should_renew=true).
      - Mutually exclusive with O(host).
    type: path
  host:
    description:
      - Host name or address of a live TLS endpoint to read the certificate from.
      - Mutually exclusive with O(path).
    type: str
  port:
    description:
      - TCP port of the endpoint.
    type: int
    default: 443
  server_name:
    description:
      - Name sent as SNI and checked against the certificate (RV(hostname_matches)).
      - Defaults to O(host).
    type: str
  starttls:
    description:
      - Protocol preamble to send before the TLS handshake.
      - V(postgres) sends PostgreSQL's C(SSLRequest), so the certificate of a PostgreSQL server with C(ssl = on) can be read.
    type: str
    choices: [postgres]
  timeout:
    description:
      - Seconds to wait for the connection and the handshake.
    type: float
    default: 10
  renew_before_days:
    description:
      - RV(should_renew) is true when fewer than this many days remain.
      - Defaults to 30 when O(renew_before_pct) is not set.
      - Mutually exclusive with O(renew_before_pct).
    type: int
  renew_before_pct:
    description:
      - RV(should_renew) is true when less than this percentage of the certificate lifetime remains
        (for example V(33) renews a 90-day certificate with 30 days left).
      - Mutually exclusive with O(renew_before_days).
    type: float
notes:
  - An expired or not yet valid certificate always gives RV(should_renew=true).
seealso:
  - module: runbook.ops.cert_renew
'''

EXAMPLES = r'''
- name: Read the certificate nginx serves
  runbook.ops.cert_info:
    host: 127.0.0.1
    port: 443
    server_name: www.example.org
  register: live

- name: Fail when the served certificate does not match the name
  ansible.builtin.assert:
    that: live.hostname_matches | bool
    fail_msg: "{{ live.server_name }} serves a certificate for {{ live.subject_alt_names }}"

- name: Read a certificate file with a lifetime-based threshold
  runbook.ops.cert_info:
    path: /etc/ssl/example/fullchain.pem
    renew_before_pct: 33
  register: file_cert

- name: Read the certificate of a PostgreSQL server (STARTTLS)
  runbook.ops.cert_info:
    host: db1.example.org
    port: 5432
    starttls: postgres
'''

RETURN = r'''
exists:
  description: Whether the certificate file exists (always true for endpoints).
  returned: always
  type: bool
  sample: true
source:
  description: The file that was read, or the C(host:port) of the endpoint.
  returned: always
  type: str
  sample: /etc/ssl/example/fullchain.pem
endpoint:
  description: The C(host:port) that was read.
  returned: when O(host) is set
  type: str
  sample: 127.0.0.1:443
server_name:
  description: The SNI name sent and checked.
  returned: when O(host) is set
  type: str
  sample: www.example.org
subject:
  description: Subject of the leaf certificate (RFC 4514).
  returned: when a certificate was read
  type: str
  sample: CN=www.example.org
common_name:
  description: Common name of the leaf subject, if any.
  returned: when a certificate was read
  type: str
  sample: www.example.org
subject_alt_names:
  description: DNS names and IP addresses of the subjectAltName extension.
  returned: when a certificate was read
  type: list
  elements: str
  sample: [www.example.org, example.org]
issuer:
  description: Issuer of the leaf certificate (RFC 4514).
  returned: when a certificate was read
  type: str
  sample: CN=R11,O=Let's Encrypt,C=US
serial:
  description: Serial number in lowercase hexadecimal without C(0x).
  returned: when a certificate was read
  type: str
  sample: 3a1f0c0d9e2b7c41
fingerprint_sha256:
  description: SHA-256 of the DER-encoded leaf certificate, hex.
  returned: when a certificate was read
  type: str
  sample: 9f2c0e...
public_key:
  description: Key type and size of the leaf (V(rsa2048), V(ec-secp256r1), ...).
  returned: when a certificate was read
  type: str
  sample: ec-secp256r1
not_before:
  description: Start of validity, ISO 8601 UTC.
  returned: when a certificate was read
  type: str
  sample: "2026-11-01T00:00:00Z"
not_after:
  description: End of validity, ISO 8601 UTC.
  returned: when a certificate was read
  type: str
  sample: "2027-01-30T00:00:00Z"
days_remaining:
  description: Whole days until RV(not_after), rounded toward zero; negative when expired for a day or more.
  returned: when a certificate was read
  type: int
  sample: 67
seconds_remaining:
  description: Seconds until RV(not_after); negative when expired.
  returned: when a certificate was read
  type: int
  sample: 5810400
expired:
  description: Whether RV(not_after) has passed.
  returned: when a certificate was read
  type: bool
  sample: false
not_yet_valid:
  description: Whether RV(not_before) is still in the future.
  returned: when a certificate was read
  type: bool
  sample: false
self_signed:
  description: Whether the leaf is issued by itself (same subject and issuer, signature verifies with its own key).
  returned: when a certificate was read
  type: bool
  sample: false
hostname_matches:
  description: Whether the server name (O(server_name), else O(host)) is covered by the SANs; null for files.
  returned: when a certificate was read
  type: bool
  sample: true
chain_length:
  description: Number of certificates in the file or sent by the server, leaf included.
  returned: when a certificate was read
  type: int
  sample: 2
chain:
  description: The certificates after the leaf, in order.
  returned: when a certificate was read
  type: list
  elements: dict
  sample: [{subject: "CN=R11,O=Let's Encrypt,C=US", issuer: "CN=ISRG Root X1", serial: "8a7f", not_after: "2027-03-12T23:59:59Z"}]
should_renew:
  description: Whether the certificate is due for renewal (or the file is missing).
  returned: always
  type: bool
  sample: false
renew_reason:
  description: Why RV(should_renew) has its value.
  returned: always
  type: str
  sample: 67.2 days left (>= 30)
checked_at:
  description: The time the decision was made, ISO 8601 UTC.
  returned: when a certificate was read
  type: str
  sample: "2026-11-23T15:04:36Z"
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.certs import (
    CRYPTOGRAPHY_IMP_ERR, HAS_CRYPTOGRAPHY, CertError, read_endpoint_info, read_file_info)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path'),
            host=dict(type='str'),
            port=dict(type='int', default=443),
            server_name=dict(type='str'),
            starttls=dict(type='str', choices=['postgres']),
            timeout=dict(type='float', default=10.0),
            renew_before_days=dict(type='int'),
            renew_before_pct=dict(type='float'),
        ),
        mutually_exclusive=[('path', 'host'), ('renew_before_days', 'renew_before_pct')],
        required_one_of=[('path', 'host')],
        required_by={'starttls': 'host', 'server_name': 'host'},
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=CRYPTOGRAPHY_IMP_ERR)
    p = module.params
    pct = p['renew_before_pct']
    if pct is not None and not 0 < pct < 100:
        module.fail_json(msg='Could not use renew_before_pct=%s: it must be between 0 and 100 (exclusive).' % pct)
    if p['renew_before_days'] is not None and p['renew_before_days'] < 0:
        module.fail_json(msg='Could not use renew_before_days=%s: it must be 0 or more.' % p['renew_before_days'])
    thresholds = dict(renew_before_days=p['renew_before_days'], renew_before_pct=pct)
    try:
        if p['path']:
            info = read_file_info(p['path'], **thresholds)
        else:
            info = read_endpoint_info(p['host'], p['port'], server_name=p['server_name'], starttls=p['starttls'],
                                      timeout=p['timeout'], **thresholds)
    except CertError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **info)


if __name__ == '__main__':
    main()
