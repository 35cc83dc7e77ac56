# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME (RFC 8555) renewal with the python ``acme`` library, HTTP-01 only.

Pieces, each unit-testable:
  * keys: generate / load / serialize, public key match with a certificate
  * responders: ``WebrootResponder`` (files under <webroot>/.well-known/acme-challenge/)
    and ``StandaloneResponder`` (a tiny HTTP server on a port), both clean up after themselves
  * ``AcmeSession``: directory, account, order, challenges, finalize, chain selection
  * ``FileSet``: writes every output to a temp file beside its target first, keeps the old
    files (hard links beside them), then renames the new ones in, all or nothing: when one
    rename fails, the files already swapped are put back; nothing under a live name is
    touched before every new file is fully on disk.
Every failure is raised as ``AcmeFailure`` with a message ready for ``fail_json``.
"""

from __future__ import annotations

import datetime
import errno
import os
import secrets
import shutil
import tempfile
import threading
import traceback

from ansible_collections.runbook.ops.plugins.module_utils.certs import (
    load_pem_chain, split_pem_certificates, common_name, brief, CertError)

ACME_IMP_ERR = None
try:
    import josepy as jose
    import requests
    from acme import challenges, client as acme_client, errors as acme_errors, messages
    from acme import crypto_util as acme_crypto_util
    from acme import standalone as acme_standalone
    HAS_ACME = True
except ImportError:
    ACME_IMP_ERR = traceback.format_exc()
    HAS_ACME = False

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError:  # reported through certs.HAS_CRYPTOGRAPHY
    pass

LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory'
LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory'
KEY_TYPES = ('ec256', 'rsa2048', 'rsa4096')
CHALLENGE_DIR = os.path.join('.well-known', 'acme-challenge')
USER_AGENT = 'runbook.ops-cert_renew'


class AcmeFailure(Exception):
    """Renewal failed; ``stage`` names the step (account, order, challenge, finalize, write).

    ``files_state`` says what the failure left on disk: ``untouched`` (no live file was replaced), ``restored``
    (some were replaced and all were put back; the message says so) or ``mixed`` (putting them back failed; the
    message lists the new and the old files). ``written`` lists the new files left in place.
    """

    def __init__(self, msg, stage, files_state='untouched', written=None):
        super().__init__(msg)
        self.stage = stage
        self.files_state = files_state
        self.written = list(written or [])


# ---------------------------------------------------------------- keys

def generate_private_key(key_type):
    if key_type == 'ec256':
        return ec.generate_private_key(ec.SECP256R1())
    if key_type in ('rsa2048', 'rsa4096'):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    raise ValueError('unknown key type %r' % key_type)


def key_type_of(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return 'ec256' if key.curve.name == 'secp256r1' else 'ec-' + key.curve.name
    if isinstance(key, rsa.RSAPrivateKey):
        return 'rsa%d' % key.key_size
    return type(key).__name__


def private_key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(path):
    """The unencrypted PEM key at ``path``, or None when the file does not exist."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, 'rb') as f:
            return serialization.load_pem_private_key(f.read(), password=None)
    except OSError as e:
        raise AcmeFailure('Could not read private key %s: %s. Check its permissions.' % (path, e.strerror or e), 'key')
    except (ValueError, TypeError) as e:
        raise AcmeFailure('Could not load private key %s: %s. It must be an unencrypted PEM key; move it away to '
                          'have a new one made.' % (path, e), 'key')


def public_key_matches(cert, key):
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, pub) == key.public_key().public_bytes(enc, pub)


def jwk_for(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {'secp256r1': jose.ES256, 'secp384r1': jose.ES384, 'secp521r1': jose.ES512}.get(key.curve.name)
        if alg is None:
            raise AcmeFailure('Could not use the account key: curve %s is not supported by ACME. Use P-256.'
                              % key.curve.name, 'account')
        return jose.JWKEC(key=key), alg
    if isinstance(key, rsa.RSAPrivateKey):
        return jose.JWKRSA(key=key), jose.RS256
    raise AcmeFailure('Could not use the account key: %s keys are not supported. Use EC P-256 or RSA.'
                      % type(key).__name__, 'account')


# ---------------------------------------------------------------- files

def _chown(path, owner, group, target):
    """Give ``path`` the requested owner/group, else those of the file it replaces (a postgres-owned key stays so)."""
    if owner is None and group is None:
        try:
            st = os.stat(target)
        except OSError:
            return
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(path, st.st_uid, st.st_gid)
        return
    shutil.chown(path, user=owner, group=group)


def _oserror(e):
    """``Device or resource busy (EBUSY)``: the cause of an OSError without the temp file names."""
    code = errno.errorcode.get(e.errno)
    return '%s (%s)' % (e.strerror or e, code) if code else str(e.strerror or e)


class FileSet:
    """Stage several files next to their targets, then swap them in together, all or nothing.

    ``add()`` writes to a temp file in the target directory (fsynced, final mode
    and owner already set). ``commit()`` first keeps each existing target under a
    hidden name beside it (a hard link, or a copy where linking is refused), then
    renames the temp files over the targets; when one rename fails (a bind-mounted
    or immutable file: EBUSY, EPERM) the targets already replaced are put back from
    what was kept, so either every file is new or every file is old. On success the
    kept files become ``<target>.bak`` (or are removed). ``abort()`` removes the temp
    files, so a failure before commit leaves the old files untouched.
    """

    def __init__(self):
        self.staged = []  # (tmp, target)
        self.backups = {}
        self.warnings = []

    def add(self, target, data, mode, owner=None, group=None):
        directory = os.path.dirname(os.path.abspath(target)) or '.'
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(target), suffix='.tmp', dir=directory)
        except OSError as e:
            raise AcmeFailure('Could not write %s: %s. Check that its directory is writable.'
                              % (target, e.strerror or e), 'write')
        self.staged.append((tmp, target))
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            _chown(tmp, owner, group, target)
        except (OSError, LookupError) as e:
            raise AcmeFailure('Could not write %s: %s.' % (target, e), 'write')

    @staticmethod
    def _keep_old(target):
        """Keep the current ``target`` under a hidden name beside it; None when there is no target."""
        if not os.path.lexists(target):
            return None
        directory, base = os.path.split(os.path.abspath(target))
        while True:
            keep = os.path.join(directory, '.%s.%s.old' % (base, secrets.token_hex(6)))
            if not os.path.lexists(keep):
                break
        try:
            os.link(target, keep, follow_symlinks=False)  # the very same inode: content, mode and owner
            return keep
        except FileExistsError:
            raise
        except OSError:
            pass  # immutable, foreign-owned with protected_hardlinks, or a bind mount: copy it instead
        try:
            shutil.copy2(target, keep, follow_symlinks=False)
            st = os.lstat(target)
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                os.chown(keep, st.st_uid, st.st_gid, follow_symlinks=False)
        except BaseException:
            try:
                os.unlink(keep)
            except OSError:
                pass
            raise
        return keep

    @staticmethod
    def _fsync_dirs(targets):
        for d in set(os.path.dirname(os.path.abspath(t)) for t in targets):
            try:
                fd = os.open(d, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                pass

    @staticmethod
    def _unlink_quietly(path):
        try:
            os.unlink(path)
        except OSError:
            pass

    def commit(self, backup=True):
        targets = [t for dummy, t in self.staged]
        kept = {}
        try:
            for target in targets:
                kept[target] = self._keep_old(target)
        except OSError as e:
            for keep in kept.values():
                if keep:
                    self._unlink_quietly(keep)
            failed = [t for t in targets if t not in kept][0]
            raise AcmeFailure('Could not install the new certificate: could not keep a copy of %s before replacing '
                              'it: %s. Check that its directory is writable and has free space.'
                              % (failed, _oserror(e)), 'write')
        done = []
        for tmp, target in self.staged:
            try:
                os.rename(tmp, target)
            except OSError as e:
                self._roll_back(targets, done, kept, target, e)
            done.append(target)
        self.staged = []
        self._fsync_dirs(targets)
        for target in targets:
            keep = kept[target]
            if keep is None:
                continue
            if not backup:
                self._unlink_quietly(keep)
                continue
            bak = target + '.bak'
            try:
                if os.path.islink(keep):  # a symlinked target (certbot-style live/): back up the content
                    shutil.copy2(keep, bak)
                    os.unlink(keep)
                else:
                    os.replace(keep, bak)
                self.backups[target] = bak
            except OSError as e:
                self._unlink_quietly(keep)
                self.warnings.append('The new certificate files are installed, but the old %s could not be kept as '
                                     '%s: %s.' % (target, bak, _oserror(e)))
        return self.backups

    def _roll_back(self, targets, done, kept, failed, error):
        """Put back every target already replaced, clean up, and raise an AcmeFailure that tells the truth."""
        stuck = []  # (target, keep or None, OSError): still new after the attempt to put the old one back
        for target in reversed(done):
            keep = kept[target]
            try:
                if keep is None:
                    os.unlink(target)  # it did not exist before this commit
                else:
                    os.rename(keep, target)
            except OSError as e:
                stuck.append((target, keep, e))
        for tmp, target in self.staged:
            if target not in done:
                self._unlink_quietly(tmp)
        stuck_targets = [t for t, dummy, dummy in stuck]
        for target in targets:
            if kept[target] and target not in done:
                self._unlink_quietly(kept[target])  # never replaced: its keep is a spare link
        self.staged = []
        self._fsync_dirs(targets)
        cause = '%s could not be replaced: %s' % (failed, _oserror(error))
        hint = 'Check that %s is not a bind mount or an immutable file (lsattr), then rerun.' % failed
        if not stuck:
            put_back = ('The files already replaced (%s) were put back' % ', '.join(done) if done
                        else 'No file had been replaced yet')
            raise AcmeFailure('Could not install the new certificate: %s. %s, so the old certificate files are all in '
                              'place. %s' % (cause, put_back, hint), 'write', files_state='restored')
        new = [t for t in targets if t in stuck_targets]
        old = [t for t in targets if t not in stuck_targets and kept[t] is not None]
        absent = [t for t in targets if t not in stuck_targets and kept[t] is None]
        where = []
        for target, keep, e in stuck:
            if keep is None:
                where.append('%s did not exist before and could not be removed (%s)' % (target, _oserror(e)))
            else:
                where.append('The old %s is kept at %s (%s)' % (target, keep, _oserror(e)))
        raise AcmeFailure(
            'Could not install the new certificate: %s, and putting the old files back failed too. NEW files in '
            'place: %s. OLD files in place: %s.%s %s. Move the kept files back by hand before the service reloads '
            '(the key and certificate must match), or rerun once %s can be replaced.'
            % (cause, ', '.join(new), ', '.join(old) or 'none',
               (' Still absent as before: %s.' % ', '.join(absent)) if absent else '', '. '.join(where), failed),
            'write', files_state='mixed', written=new)

    def abort(self):
        for tmp, dummy in self.staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self.staged = []


def write_account_key(path, key):
    fs = FileSet()
    try:
        fs.add(path, private_key_pem(key), 0o600)
        fs.commit(backup=False)
    except AcmeFailure:
        fs.abort()
        raise


# ---------------------------------------------------------------- HTTP-01 responders

class WebrootResponder:
    """Serve tokens as files under ``<webroot>/.well-known/acme-challenge/`` (nginx serves them)."""

    def __init__(self, webroot):
        self.webroot = webroot
        self.files = []
        self.dirs = []

    def start(self):
        if not os.path.isdir(self.webroot):
            raise AcmeFailure('Could not use webroot %s: it is not a directory. Create it and have the web server '
                              'serve /.well-known/acme-challenge/ from it.' % self.webroot, 'challenge')
        path = self.webroot
        for part in CHALLENGE_DIR.split(os.sep):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                try:
                    os.mkdir(path, 0o755)
                except OSError as e:
                    raise AcmeFailure('Could not create %s: %s.' % (path, e.strerror or e), 'challenge')
                os.chmod(path, 0o755)
                self.dirs.append(path)

    def deploy(self, token, validation):
        if '/' in token or token in ('', '.', '..'):
            raise AcmeFailure('Could not deploy challenge: the server sent an unsafe token %r.' % token, 'challenge')
        path = os.path.join(self.webroot, CHALLENGE_DIR, token)
        try:
            with open(path, 'w') as f:
                f.write(validation)
            os.chmod(path, 0o644)
        except OSError as e:
            raise AcmeFailure('Could not write challenge file %s: %s.' % (path, e.strerror or e), 'challenge')
        self.files.append(path)

    def stop(self):
        for path in self.files:
            try:
                os.unlink(path)
            except OSError:
                pass
        for path in reversed(self.dirs):
            try:
                os.rmdir(path)
            except OSError:
                pass
        self.files = []
        self.dirs = []


class StandaloneResponder:
    """A short-lived HTTP server answering ``/.well-known/acme-challenge/<token>`` on a port."""

    def __init__(self, address, port):
        self.address = address
        self.port = port
        self.resources = set()
        self.server = None
        self.thread = None

    def start(self):
        try:
            self.server = acme_standalone.HTTP01Server((self.address, self.port), self.resources,
                                                       ipv6=':' in self.address, timeout=10)
        except OSError as e:
            raise AcmeFailure('Could not listen on %s:%s for the HTTP-01 challenge: %s. Stop whatever holds the port '
                              'or use the webroot mode.' % (self.address, self.port, e.strerror or e), 'challenge')
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.1})
        self.thread.daemon = True
        self.thread.start()

    def add(self, challb, response, validation):
        self.resources.add(acme_standalone.HTTP01RequestHandler.HTTP01Resource(
            chall=challb.chall, response=response, validation=validation))

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(10)
            self.server = None


# ---------------------------------------------------------------- ACME

def _problem(err):
    """One line for an ACME problem document."""
    typ = getattr(err, 'typ', None) or ''
    code = typ.rsplit(':', 1)[-1] if typ else 'error'
    detail = getattr(err, 'detail', None) or getattr(err, 'title', None) or str(err)
    return code, detail


def select_chain(fullchains, preferred_chain):
    """Pick the fullchain whose top issuer (or any certificate subject) CN equals ``preferred_chain``."""
    if preferred_chain:
        for pem in fullchains:
            try:
                certs = load_pem_chain(pem, 'the chain sent by the ACME server')
            except CertError:
                continue
            names = [common_name(certs[-1].issuer)] + [common_name(c.subject) for c in certs[1:]]
            if preferred_chain in names:
                return pem, True
    return fullchains[0], not preferred_chain


class AcmeSession:
    def __init__(self, directory_url, account_key, ca_bundle=None, timeout=90, network_timeout=30):
        self.directory_url = directory_url
        self.account_key = account_key
        self.ca_bundle = ca_bundle
        self.deadline_seconds = timeout
        self.network_timeout = network_timeout
        self.jwk, self.alg = jwk_for(account_key)
        self.client = None
        self.account_uri = None
        self.account_created = False

    # each public step maps library/network exceptions to AcmeFailure with its stage
    def _guard(self, stage, func, *args, **kwargs):
        where = 'the ACME server %s' % self.directory_url
        try:
            return func(*args, **kwargs)
        except AcmeFailure:
            raise
        except requests.exceptions.SSLError as e:
            raise AcmeFailure('Could not reach %s (%s): TLS verification failed: %s. Set acme_ca_bundle to the CA '
                              'that signed the ACME server certificate.' % (where, stage, e), stage)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise AcmeFailure('Could not reach %s (%s): %s. Check acme_directory and the network.'
                              % (where, stage, e), stage)
        except acme_errors.ValidationError as e:
            parts = []
            for authzr in e.failed_authzrs:
                for challb in authzr.body.challenges:
                    if challb.error is not None:
                        code, detail = _problem(challb.error)
                        parts.append('%s for %s: %s: %s'
                                     % (challb.chall.typ, authzr.body.identifier.value, code, detail))
            raise AcmeFailure('Could not validate the domains: the challenge failed (%s). Check that '
                              'http://<domain>/.well-known/acme-challenge/ is served from the webroot (or reaches the '
                              'standalone port).' % ('; '.join(parts) or 'no detail'), 'challenge')
        except acme_errors.TimeoutError:
            raise AcmeFailure('Could not finish the order at %s (%s): timed out after %ss. Raise timeout or check the '
                              'ACME server.' % (where, stage, self.deadline_seconds), stage)
        except messages.Error as e:
            code, detail = _problem(e)
            if code == 'rateLimited':
                raise AcmeFailure('Could not renew: rate limited by %s (%s): %s. Wait for the limit to reset, use the '
                                  'staging directory for tests.' % (where, stage, detail), 'rate_limited')
            raise AcmeFailure('Could not complete %s with %s: %s: %s.' % (stage, where, code, detail), stage)
        except acme_errors.Error as e:
            raise AcmeFailure('Could not complete %s with %s: %s.' % (stage, where, e or type(e).__name__), stage)
        except (ValueError, KeyError) as e:
            raise AcmeFailure('Could not complete %s with %s: unexpected answer: %s.' % (stage, where, e), stage)

    def connect(self):
        verify = self.ca_bundle if self.ca_bundle else True
        net = acme_client.ClientNetwork(self.jwk, alg=self.alg, verify_ssl=verify, user_agent=USER_AGENT,
                                        timeout=self.network_timeout)
        directory = self._guard('directory', acme_client.ClientV2.get_directory, self.directory_url, net)
        self.client = acme_client.ClientV2(directory, net)

    def _new_or_existing_account(self, reg):
        try:
            regr = self.client.new_account(reg)
            self.account_created = True
        except acme_errors.ConflictError as e:
            # the key is already registered: the server answered with the account URL
            regr = messages.RegistrationResource(uri=e.location, body=messages.Registration())
            self.client.net.account = regr
        return regr

    def register(self, contact_email=None, terms_agreed=False):
        kwargs = {'terms_of_service_agreed': bool(terms_agreed)}
        if contact_email:
            kwargs['email'] = contact_email
        reg = messages.NewRegistration.from_data(**kwargs)
        regr = self._guard('account', self._new_or_existing_account, reg)
        self.account_uri = regr.uri
        return regr

    def issue(self, domains, key, responder, preferred_chain=None):
        """Order a certificate for ``domains`` with ``key``; return ``(fullchain_pem, preferred_found)``."""
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=self.deadline_seconds)
        csr_pem = acme_crypto_util.make_csr(private_key_pem(key), list(domains))
        orderr = self._guard('order', self.client.new_order, csr_pem)
        responder.start()
        try:
            for authzr in orderr.authorizations:
                if authzr.body.status == messages.STATUS_VALID:
                    continue
                challb = None
                for c in authzr.body.challenges:
                    if isinstance(c.chall, challenges.HTTP01):
                        challb = c
                        break
                if challb is None:
                    raise AcmeFailure('Could not validate %s: the ACME server offers no http-01 challenge.'
                                      % authzr.body.identifier.value, 'challenge')
                response, validation = challb.response_and_validation(self.jwk)
                if isinstance(responder, StandaloneResponder):
                    responder.add(challb, response, validation)
                else:
                    responder.deploy(challb.chall.encode('token'), validation)
                self._guard('challenge', self.client.answer_challenge, challb, response)
            orderr = self._guard('challenge', self.client.poll_authorizations, orderr, deadline)
        finally:
            responder.stop()
        orderr = self._guard('finalize', self.client.finalize_order, orderr, deadline,
                             fetch_alternative_chains=bool(preferred_chain))
        fullchains = [orderr.fullchain_pem] + list(orderr.alternative_fullchains_pem or [])
        return select_chain(fullchains, preferred_chain)


def split_fullchain(fullchain_pem):
    """``(leaf_pem, chain_pem, leaf_cert)`` from a fullchain PEM string."""
    data = fullchain_pem.encode('utf-8') if isinstance(fullchain_pem, str) else fullchain_pem
    blocks = split_pem_certificates(data)
    certs = load_pem_chain(data, 'the certificate sent by the ACME server')
    return blocks[0], b''.join(blocks[1:]), certs[0]


def summary(cert):
    if cert is None:
        return None
    b = brief(cert)
    return {'serial': b['serial'], 'not_after': b['not_after']}
