# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real local SMTP server (aiosmtpd) for the notify tests: STARTTLS with a throw-away certificate and AUTH.

``with smtp_receiver(tmp_path, starttls=True, auth=('runbook', 'pw')) as smtp:`` starts it on 127.0.0.1;
``smtp.port``, ``smtp.ca`` (the CA file that verifies its certificate), ``smtp.messages`` (the mails it got,
as ``email.message.Message`` with the envelope in ``smtp.envelopes``), ``smtp.logins`` (the user names that
logged in), ``smtp.tls`` (whether each mail came over TLS).
"""
from __future__ import annotations

import contextlib
import email
import os
import ssl
import subprocess

from servers import free_port


class SmtpReceiver(object):
    def __init__(self, port, ca):
        self.port = port
        self.ca = ca
        self.messages = []
        self.envelopes = []
        self.logins = []
        self.tls = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  pylint: disable=invalid-name
        self.messages.append(email.message_from_bytes(envelope.content))
        self.envelopes.append({'from': envelope.mail_from, 'to': list(envelope.rcpt_tos)})
        self.tls.append(session.ssl is not None)
        return '250 OK'


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1 / localhost (its own CA): returns (cert, key)."""
    cert, key = os.path.join(directory, 'smtp.crt'), os.path.join(directory, 'smtp.key')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
                    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                   check=True, capture_output=True)
    return cert, key


@contextlib.contextmanager
def smtp_receiver(directory, starttls=True, auth=None):
    """Yield an SmtpReceiver on 127.0.0.1; ``auth`` = (user, password) requires AUTH (after STARTTLS when on)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    directory = str(directory)
    cert, key = make_cert(directory)
    receiver = SmtpReceiver(free_port(), cert)
    kwargs = {}
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs.update(tls_context=context, require_starttls=True)
    if auth:
        def authenticator(server, session, envelope, mechanism, auth_data):  # pylint: disable=unused-argument
            ok = (auth_data.login.decode(), auth_data.password.decode()) == tuple(auth)
            if ok:
                receiver.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False)
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(starttls))
    controller = Controller(receiver, hostname='127.0.0.1', port=receiver.port, ready_timeout=30, **kwargs)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
