# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# The cert_renew flow: is a renewal due, and if so account, order, HTTP-01 challenge, finalize, and an all-or-nothing
# install of the new files (FileSet), then the result. acme_client.py is the ACME transport; certs.py reads
# certificates and owns the due rule. Check mode decides from the local files only and touches nothing.

import os
import re

from ansible_collections.runbook.ops.plugins.module_utils.certs import (
    CertError, hostname_matches, load_chain_file, renewal_decision, utcnow)
from ansible_collections.runbook.ops.plugins.module_utils.acme_client import (
    AcmeFailure, AcmeSession, FileSet, StandaloneResponder, WebrootResponder, generate_private_key, key_type_of,
    load_private_key, private_key_pem, public_key_matches, split_fullchain, summary, write_account_key)

DOMAIN_RE = re.compile(r'^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
                       r'(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$')


class CertRenewError(Exception):
    """A failure to report: ``str(e)`` is the message, ``result`` the keys to return with it."""

    def __init__(self, msg, result=None):
        super(CertRenewError, self).__init__(msg)
        self.result = result or {}


def targets(p):
    """The files managed, by role (cert, key, and fullchain/chain when set)."""
    paths = {'cert': p['cert_path'], 'key': p['key_path']}
    for name in ('fullchain', 'chain'):
        if p[name + '_path']:
            paths[name] = p[name + '_path']
    return paths


def diff_text(s, pending=False):
    if s is None:
        return '(no certificate)\n' if not pending else '(a new certificate)\n'
    return 'serial: %s\nnot_after: %s\n' % (s['serial'], s['not_after'])


class CertRenewer(object):
    """Renews one certificate. ``params`` are cert_renew's options.

    ``session_factory`` and ``key_matches`` are the ACME transport and the CSR key check (acme_client's by
    default; the module passes its own names so they can be substituted). ``warn`` receives warnings.
    """

    def __init__(self, params, check_mode=False, diff=False, warn=None, session_factory=AcmeSession,
                 key_matches=public_key_matches):
        self.p = params
        self.check_mode = check_mode
        self.diff = diff
        self.warn = warn or (lambda msg: None)
        self.session_factory = session_factory
        self.key_matches = key_matches
        self.paths = targets(params)

    def validate(self):
        """Refuse options the argspec cannot express; raises CertRenewError."""
        p = self.p
        bad = [d for d in p['domains'] if not DOMAIN_RE.match(d or '')]
        if bad or not p['domains']:
            raise CertRenewError('Could not use domains %r: each must be a DNS name (letters, digits, hyphens, '
                                 'dots; no wildcard, no spaces). Fix the domains list.' % (bad or p['domains']))
        if p['renew_before_pct'] is not None and not 0 < p['renew_before_pct'] < 100:
            raise CertRenewError('Could not use renew_before_pct=%s: it must be between 0 and 100 (exclusive).'
                                 % p['renew_before_pct'])
        if len(set(self.paths.values())) != len(self.paths):
            raise CertRenewError('Could not use the paths %s: cert, key, fullchain and chain must be different '
                                 'files.' % self.paths)

    def current_state(self):
        """(old_cert or None, due, reason) from the files on disk."""
        p = self.p
        old = None
        reason = 'forced' if p['force'] else None
        try:
            old = load_chain_file(p['cert_path'])[0] if os.path.exists(p['cert_path']) else None
        except CertError as e:
            if reason is None:
                reason = 'current certificate unreadable (%s)' % e
        if old is None:
            return None, True, reason or 'no certificate at %s' % p['cert_path']
        if reason:
            return old, True, reason
        missing = [d for d in p['domains'] if not hostname_matches(old, d)]
        if missing:
            return old, True, 'certificate does not cover %s' % ', '.join(missing)
        if not os.path.exists(p['key_path']):
            return old, True, 'no private key at %s' % p['key_path']
        due, reason = renewal_decision(old.not_valid_before_utc, old.not_valid_after_utc, utcnow(),
                                       p['renew_before_days'], p['renew_before_pct'])
        return old, due, reason

    def run(self):
        """Validate, decide, renew when due (predict in check mode); returns the module result.

        Raises CertRenewError with the message and the result keys (``failed_stage`` on an ACME or write failure).
        """
        self.validate()
        old, due, reason = self.current_state()
        result = dict(changed=False, renewed=False, due=due, reason=reason, old=summary(old), new=None,
                      paths=self.paths, written=[], backups={})
        if due and self.check_mode:
            result.update(self.predict())
        elif due:
            try:
                result.update(self.renew(result))
            except AcmeFailure as e:
                result.pop('changed')
                result['written'] = e.written  # new files left in place (only when putting the old ones back failed)
                result['failed_stage'] = e.stage
                msg = str(e)
                if e.files_state == 'untouched':
                    msg += ' The old certificate files were left untouched.'
                raise CertRenewError(msg, result)
        if self.diff:
            after = result['new'] if result['renewed'] else result['old']
            result['diff'] = {'before': diff_text(result['old']),
                              'after': diff_text(after, pending=due) if not (due and self.check_mode)
                              else '(a new certificate for %s)\n' % ', '.join(self.p['domains'])}
        return result

    def predict(self):
        """Check mode: what a renewal would write, from the local files only."""
        p, paths = self.p, self.paths
        would = ([] if p['reuse_key'] and os.path.exists(p['key_path']) else [paths['key']])
        would += [paths[n] for n in ('cert', 'fullchain', 'chain') if n in paths]
        return {'changed': True, 'account_key_created': not os.path.exists(p['account_key_path']), 'written': would}

    def renew(self, result):
        """Obtain and install a new certificate; returns the keys to add to ``result``; raises AcmeFailure."""
        p = self.p
        self._check_webroot()
        account_key = load_private_key(p['account_key_path'])
        result['account_key_created'] = account_key is None  # reported even when writing the new key fails
        if account_key is None:
            account_key = generate_private_key('ec256')
            write_account_key(p['account_key_path'], account_key)
        key, rotated = self._certificate_key()
        responder = self._responder()
        session = self.session_factory(p['acme_directory'], account_key, ca_bundle=p['acme_ca_bundle'],
                                       timeout=p['timeout'])
        session.connect()
        session.register(p['contact_email'], p['terms_agreed'])
        fullchain, preferred_found = session.issue(p['domains'], key, responder, p['preferred_chain'])
        leaf_pem, chain_pem, leaf = split_fullchain(fullchain)
        if not self.key_matches(leaf, key):
            raise AcmeFailure('Could not install the new certificate: its public key does not match the key sent in '
                              'the CSR. Report this to the ACME server operator.', 'finalize')
        written, backups = self._install(key if rotated else None, leaf_pem, chain_pem)
        return dict(renewed=True, changed=True, new=summary(leaf), written=written, backups=backups,
                    key_rotated=rotated, account_created=session.account_created,
                    preferred_chain_found=preferred_found)

    def _check_webroot(self):
        p = self.p
        if p['challenge'] == 'webroot' and not os.path.isdir(p['webroot']):
            raise AcmeFailure('Could not use webroot %s: it is not a directory. Create it and have the web server '
                              'serve /.well-known/acme-challenge/ from it.' % p['webroot'], 'challenge')

    def _certificate_key(self):
        """(key, rotated): the existing key with reuse_key and the right type, else a new one."""
        p = self.p
        key = load_private_key(p['key_path']) if p['reuse_key'] else None
        if key is not None and key_type_of(key) != p['key_type']:
            key = None
        if key is not None:
            return key, False
        return generate_private_key(p['key_type']), True

    def _responder(self):
        p = self.p
        if p['challenge'] == 'webroot':
            return WebrootResponder(p['webroot'])
        return StandaloneResponder(p['standalone_address'], p['standalone_port'])

    def _install(self, new_key, leaf_pem, chain_pem):
        """Write every file all or nothing (FileSet); returns (written, backups); raises AcmeFailure."""
        p, paths = self.p, self.paths
        files = FileSet()
        try:
            if new_key is not None:
                files.add(paths['key'], private_key_pem(new_key), 0o600, p['owner'], p['group'])
            files.add(paths['cert'], leaf_pem, 0o644, p['owner'], p['group'])
            if 'fullchain' in paths:
                files.add(paths['fullchain'], leaf_pem + chain_pem, 0o644, p['owner'], p['group'])
            if 'chain' in paths:
                files.add(paths['chain'], chain_pem, 0o644, p['owner'], p['group'])
            written = [t for dummy, t in files.staged]
            backups = files.commit(backup=p['backup'])  # all or nothing; a failure says what is on disk
        except (AcmeFailure, OSError) as e:
            files.abort()
            if isinstance(e, AcmeFailure):
                raise
            raise AcmeFailure('Could not install the new certificate: %s.' % e, 'write')
        for warning in files.warnings:
            self.warn(warning)
        return written, backups
