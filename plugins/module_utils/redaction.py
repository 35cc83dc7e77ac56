# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one redaction helper: secrets never reach messages or results.

- :func:`mask` replaces known secret values (passwords, keys, header values) in any text.
- :func:`safe_url` shows a URL in the one masking form: the user name kept, the password masked
  (``http://user:********@host``; a userinfo without password, often a token, is masked whole:
  ``https://********@host``), and the values of token-like query parameters masked (``token``, ``key``,
  ``X-Amz-Signature``...).
- :func:`redact_urls` applies :func:`safe_url` to every URL inside a text (error messages quote URLs).
- :func:`redact` does both.

postgres.redact, redis_client.redact, files_restore.redact, backup_store.safe_url and health.redact are thin
callers of these.
"""

from __future__ import annotations

import base64
import re

from urllib.parse import unquote, urlsplit, urlunsplit

MASK = '********'
# query parameters whose values are credentials (webhook tokens, presigned S3 URLs, API keys)
SENSITIVE_QUERY = re.compile(r'token|key|secret|pass|pwd|auth|sig|credential|session|code', re.IGNORECASE)
URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>`]+""")


def mask(text, secrets, min_length=1):
    """``str(text)`` with every value of ``secrets`` (empty and None ignored, and values shorter than
    ``min_length``) replaced by :data:`MASK`, the longest first (so a secret holding another is masked whole)."""
    text = str(text)
    values = set(str(s) for s in secrets or () if s not in (None, '') and len(str(s)) >= min_length)
    for secret in sorted(values, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _sensitive(key):
    return bool(SENSITIVE_QUERY.search(unquote(key)))


def _mask_param(param):
    key, sep, value = param.partition('=')
    if sep and value and _sensitive(key):
        return key + '=' + MASK
    return param


def safe_url(url):
    """The URL without its userinfo password (a userinfo without password, often a token, is masked
    whole) and without the values of token-like query parameters (``token``, ``X-Amz-Signature``...).
    A URL that cannot be parsed is shown as ``<invalid url>``."""
    try:
        parts = urlsplit(url)
        netloc, query = parts.netloc, parts.query
        if '@' in netloc:
            userinfo, host = netloc.rsplit('@', 1)
            if ':' in userinfo:
                netloc = '%s:%s@%s' % (userinfo.split(':', 1)[0], MASK, host)
            else:
                netloc = '%s@%s' % (MASK, host)
        if query:
            query = '&'.join(_mask_param(p) for p in query.split('&'))
        if (netloc, query) == (parts.netloc, parts.query):
            return url
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return '<invalid url>'


def redact_urls(text):
    """Every URL inside ``text`` as :func:`safe_url` shows it."""
    return URL_IN_TEXT.sub(lambda match: safe_url(match.group(0)), str(text))


def redact(text, secrets=(), min_length=1):
    """``text`` without the known ``secrets`` (see :func:`mask`) and without URL passwords or token values."""
    return redact_urls(mask(text, secrets, min_length=min_length))


def basic_auth_header(user, password):
    """The ``Authorization`` value of HTTP basic auth (its token is a secret as much as the password)."""
    token = base64.b64encode(('%s:%s' % (user, password)).encode('utf-8')).decode('ascii')
    return 'Basic ' + token


def url_secrets(url):
    """The secrets a URL holds: its userinfo password (raw and decoded, and the basic auth token made of it,
    or the token of a userinfo without password) and the values of its token-like query parameters."""
    try:
        parts = urlsplit(str(url))
        password = parts.password
        username = parts.username
    except ValueError:
        return []
    found = []
    if password:
        user = parts.netloc.rsplit('@', 1)[0].partition(':')[0]
        found += [password, unquote(password)]
        found.append(basic_auth_header(unquote(user), unquote(password)).split(' ', 1)[1])
    elif username:
        found.append(basic_auth_header(unquote(username), '').split(' ', 1)[1])
    for param in parts.query.split('&'):
        key, sep, value = param.partition('=')
        if sep and value and _sensitive(key):
            found += [value, unquote(value)]
    return found
