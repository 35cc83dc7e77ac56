# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets of a probe never reach its message (mutants of secrets_of / url_credentials that survived)."""
from __future__ import annotations

import base64

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_http


@pytest.mark.parametrize('key', ['password', 'login_password', 'aws_secret_key', 'aws_access_key'])
def test_every_password_option_is_a_secret(key):
    check = {'name': 'c', 'type': 'redis', key: 's3cr3t-Value-42'}
    assert 's3cr3t-Value-42' in health.secrets_of(check)
    assert 's3cr3t-Value-42' not in health.redact('AUTH failed with s3cr3t-Value-42 for user', check)


def test_empty_header_values_are_not_secrets_but_others_are():
    check = {'name': 'c', 'type': 'http', 'headers': {'X-Token': 'tok-123456', 'X-Empty': ''}}
    assert health.secrets_of(check) == ['tok-123456']


def test_a_raw_at_sign_in_the_password_stays_in_the_credentials():
    """rsplit on the LAST @: the host is what follows it, the password keeps its own @."""
    url, header = health_http.url_credentials('http://user:p@ss@127.0.0.1:8080/health')
    assert url == 'http://127.0.0.1:8080/health'
    assert header == 'Basic ' + base64.b64encode(b'user:p@ss').decode()


def test_percent_encoded_credentials_are_decoded():
    url, header = health_http.url_credentials('https://us%40er:pa%3Ass@example.test/x?q=1')
    assert url == 'https://example.test/x?q=1'
    assert header == 'Basic ' + base64.b64encode(b'us@er:pa:ss').decode()


def test_no_userinfo_no_header():
    assert health_http.url_credentials('http://127.0.0.1/x') == ('http://127.0.0.1/x', None)
