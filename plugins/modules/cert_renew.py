#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: cert_renew
short_description: Renew a TLS certificate over ACME (HTTP-01) when it is due, and install it atomically
version_added: 0.1.0
description:
  - Reads the current certificate at O(cert_path) and decides whether it is due (fewer than
    O(renew_before_days) days or O(renew_before_pct) percent of its lifetime left, expired, missing,
    not covering O(domains), or O(force=true)).
  - When due, obtains a new certificate from an ACME server (Let's Encrypt or any RFC 8555 server)
    with the HTTP-01 challenge, either through a webroot that the web server already serves
    (O(challenge=webroot)) or through a short-lived HTTP server of its own (O(challenge=standalone)).
  - Writes the key, certificate, full chain and chain atomically (temp file in the same directory,
    then rename), the private key with mode C(0600), keeping the previous files as C(<name>.bak).
    Nothing under a live name is touched before every new file is fully written, so any failure
    (ACME server unreachable, challenge failing, rate limited) leaves the old files in place.
  - The files are swapped in all or nothing. When one rename fails (a bind-mounted or immutable file,
    C(EBUSY) or C(EPERM)), the files already replaced are put back from hard links (or copies) of the
    old files kept beside them, and the message says so; if putting them back fails too, the message
    lists which files are new, which are old, and where each old file is kept.
  - Returns the old and new serial and expiry so a handler can reload the web server only on change.
  - Uses the python C(acme) library (the protocol library certbot is built on) rather than the
    certbot program, because the module then controls every step itself, with no certbot
    configuration directory, renewal configuration files or lock files on the managed node; the exact files and
    modes it writes; a check mode that contacts nothing; and failures it can name precisely
    (unreachable, challenge, rate limit) before any file is replaced.
author:
  - runbook.ops maintainers (@runbook-ops)
requirements:
  - acme == 5.9.0 (pinned in the collection's requirements.txt)
  - cryptography >= 42.0
attributes:
  check_mode:
    support: full
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
      - In check mode the module decides whether a renewal is due from the local files only and lists the files
        it would write; it contacts no ACME server and creates no account key.
  diff_mode:
    support: full
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
      - The diff shows the serial and expiry before and after, never key material.
  idempotent:
    support: full
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - Holds because a fresh certificate is not due; O(force=true) renews on every run.
options:
  domains:
    description:
      - DNS names for the certificate; the first one is the main name. Wildcards are not supported (they need DNS-01).
    type: list
    elements: str
    required: true
  cert_path:
    description:
      - Where the leaf certificate lives (read to decide, written on renewal).
    type: path
    required: true
  key_path:
    description:
      - Where the private key of the certificate lives; written with mode C(0600).
    type: path
    required: true
  fullchain_path:
    description:
      - Where to write the leaf followed by the intermediates (what nginx's C(ssl_certificate) wants).
    type: path
  chain_path:
    description:
      - Where to write the intermediates only.
    type: path
  account_key_path:
    description:
      - The ACME account private key. Created (EC P-256, mode C(0600)) when it does not exist.
    type: path
    required: true
  acme_directory:
    description:
      - URL of the ACME directory.
      - Let's Encrypt staging is U(https://acme-staging-v02.api.letsencrypt.org/directory).
    type: str
    default: https://acme-v02.api.letsencrypt.org/directory
  acme_ca_bundle:
    description:
      - CA bundle (PEM) to verify the ACME server's TLS certificate with, instead of the system store.
      - Needed for test servers such as pebble.
    type: path
  contact_email:
    description:
      - Contact e-mail registered with a new ACME account.
    type: str
  terms_agreed:
    description:
      - Whether you agree to the CA's terms of service when a new account is registered. Let's Encrypt requires V(true).
    type: bool
    default: false
  challenge:
    description:
      - How the HTTP-01 challenge is answered.
      - V(webroot) writes the token under O(webroot)C(/.well-known/acme-challenge/) and removes it afterwards; the web
        server must serve that directory on port 80 for every domain.
      - V(standalone) runs a small HTTP server on O(standalone_address):O(standalone_port) for the duration of the
        challenge; nothing else may hold that port.
    type: str
    choices: [webroot, standalone]
    default: webroot
  webroot:
    description:
      - Document root served by the web server for C(/.well-known/acme-challenge/). Required with O(challenge=webroot).
    type: path
  standalone_address:
    description:
      - Address the standalone HTTP server binds to.
    type: str
    default: 0.0.0.0
  standalone_port:
    description:
      - Port the standalone HTTP server binds to.
    type: int
    default: 80
  key_type:
    description:
      - Type of the certificate's private key.
    type: str
    choices: [ec256, rsa2048, rsa4096]
    default: ec256
  reuse_key:
    description:
      - Keep the existing private key at O(key_path) (when it exists and has type O(key_type)) instead of making a new one.
      - By default the key is rotated on every renewal.
    type: bool
    default: false
  preferred_chain:
    description:
      - Common name of the root (or of any intermediate) of the chain to prefer when the ACME server offers alternate
        chains, like certbot's C(--preferred-chain). Falls back to the default chain when none matches.
    type: str
  force:
    description:
      - Renew even when the certificate is not due.
    type: bool
    default: false
  renew_before_days:
    description:
      - Renew when fewer than this many days remain. Defaults to 30 when O(renew_before_pct) is not set.
    type: int
  renew_before_pct:
    description:
      - Renew when less than this percentage of the certificate lifetime remains.
    type: float
  backup:
    description:
      - Keep each replaced file as C(<name>.bak) (overwriting an older backup).
    type: bool
    default: true
  owner:
    description:
      - Owner of the files written (for example V(postgres) for a database server certificate).
      - When neither O(owner) nor O(group) is set, each new file gets the owner and group of the file it replaces.
    type: str
  group:
    description:
      - Group of the files written.
    type: str
  timeout:
    description:
      - Seconds the whole order (challenges, finalization, download) may take.
    type: int
    default: 120
notes:
  - The module does not reload the web server; use the C(changed) result to notify a handler that runs C(nginx -t) first.
  - Rate limits of Let's Encrypt production are strict; test against the staging directory.
seealso:
  - module: runbook.ops.cert_info
'''

EXAMPLES = r'''
- name: Renew the site certificate through the nginx webroot when under 30 days
  runbook.ops.cert_renew:
    domains: [www.example.org, example.org]
    cert_path: /etc/ssl/example/cert.pem
    key_path: /etc/ssl/example/privkey.pem
    fullchain_path: /etc/ssl/example/fullchain.pem
    chain_path: /etc/ssl/example/chain.pem
    account_key_path: /etc/ssl/acme/account.key
    contact_email: ops@example.org
    terms_agreed: true
    webroot: /var/www/acme
  register: renewal
  notify: reload nginx

- name: Force a renewal with an RSA key from a test ACME server, with a standalone responder
  runbook.ops.cert_renew:
    domains: [app1.lab.test]
    cert_path: /etc/ssl/app1/cert.pem
    key_path: /etc/ssl/app1/privkey.pem
    account_key_path: /etc/ssl/acme/account.key
    acme_directory: https://pebble.lab.test:14000/dir
    acme_ca_bundle: /etc/ssl/pebble-ca.pem
    challenge: standalone
    standalone_port: 5002
    key_type: rsa2048
    force: true
'''

RETURN = r'''
due:
  description: Whether a renewal was due (or forced).
  returned: always
  type: bool
  sample: true
reason:
  description: Why the renewal was or was not due.
  returned: always
  type: str
  sample: 4.9 days left (< 30)
renewed:
  description: Whether a new certificate was obtained and installed.
  returned: always
  type: bool
  sample: true
old:
  description: Serial and expiry of the certificate found at O(cert_path), null when there was none.
  returned: always
  type: dict
  sample: {serial: "5f1c0e", not_after: "2026-11-28T12:00:00Z"}
new:
  description: Serial and expiry of the installed certificate, null when nothing was renewed.
  returned: always
  type: dict
  sample: {serial: "7a03bb91", not_after: "2027-02-21T12:00:00Z"}
paths:
  description: The files managed, by role (cert, key, fullchain, chain).
  returned: always
  type: dict
  sample: {cert: /etc/ssl/example/cert.pem, key: /etc/ssl/example/privkey.pem, fullchain: /etc/ssl/example/fullchain.pem}
written:
  description:
    - Files written (in check mode, the files that would be written).
    - On a failure, the new files left in place; empty unless putting the old files back failed too.
  returned: always
  type: list
  elements: str
  sample: [/etc/ssl/example/privkey.pem, /etc/ssl/example/cert.pem, /etc/ssl/example/fullchain.pem]
backups:
  description: Backup copy of each replaced file, keyed by the file.
  returned: always
  type: dict
  sample: {/etc/ssl/example/cert.pem: /etc/ssl/example/cert.pem.bak}
key_rotated:
  description: Whether a new private key was made (false when O(reuse_key=true) kept the old one).
  returned: when renewed
  type: bool
  sample: true
account_created:
  description: Whether a new ACME account was registered with the server (false when the key was already registered).
  returned: when renewed
  type: bool
  sample: false
account_key_created:
  description: Whether the account key file was created (in check mode, whether it would be).
  returned: when due
  type: bool
  sample: false
preferred_chain_found:
  description: Whether O(preferred_chain) matched one of the offered chains (true when it is not set).
  returned: when renewed
  type: bool
  sample: true
failed_stage:
  description: The step that failed (directory, account, order, challenge, finalize, rate_limited, write, key).
  returned: on failure
  type: str
  sample: challenge
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.certs import CRYPTOGRAPHY_IMP_ERR, HAS_CRYPTOGRAPHY
from ansible_collections.runbook.ops.plugins.module_utils.acme_client import (
    ACME_IMP_ERR, HAS_ACME, LETSENCRYPT_PRODUCTION, AcmeSession, public_key_matches)
from ansible_collections.runbook.ops.plugins.module_utils.cert_renew import CertRenewer, CertRenewError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            domains=dict(type='list', elements='str', required=True),
            cert_path=dict(type='path', required=True),
            key_path=dict(type='path', required=True, no_log=False),
            fullchain_path=dict(type='path'),
            chain_path=dict(type='path'),
            account_key_path=dict(type='path', required=True, no_log=False),
            acme_directory=dict(type='str', default=LETSENCRYPT_PRODUCTION),
            acme_ca_bundle=dict(type='path'),
            contact_email=dict(type='str'),
            terms_agreed=dict(type='bool', default=False),
            challenge=dict(type='str', choices=['webroot', 'standalone'], default='webroot'),
            webroot=dict(type='path'),
            standalone_address=dict(type='str', default='0.0.0.0'),
            standalone_port=dict(type='int', default=80),
            key_type=dict(type='str', choices=['ec256', 'rsa2048', 'rsa4096'], default='ec256'),
            reuse_key=dict(type='bool', default=False, no_log=False),
            preferred_chain=dict(type='str'),
            force=dict(type='bool', default=False),
            renew_before_days=dict(type='int'),
            renew_before_pct=dict(type='float'),
            backup=dict(type='bool', default=True),
            owner=dict(type='str'),
            group=dict(type='str'),
            timeout=dict(type='int', default=120),
        ),
        required_if=[('challenge', 'webroot', ('webroot',))],
        mutually_exclusive=[('renew_before_days', 'renew_before_pct')],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=CRYPTOGRAPHY_IMP_ERR)
    if not HAS_ACME:
        module.fail_json(msg=missing_required_lib('acme'), exception=ACME_IMP_ERR)
    renewer = CertRenewer(module.params, check_mode=module.check_mode, diff=module._diff, warn=module.warn,
                          session_factory=AcmeSession, key_matches=public_key_matches)
    try:
        result = renewer.run()
    except CertRenewError as e:
        module.fail_json(msg=str(e), **e.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
