# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one redaction helper (module_utils/redaction.py) and the modules that use it: one URL masking form
(the user name kept, the password masked: ``http://user:********@host``), token-like query values masked,
known secret values masked from any text."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import files_restore as fr
from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import postgres as pg
from ansible_collections.runbook.ops.plugins.module_utils import redis_client
from ansible_collections.runbook.ops.plugins.module_utils import redaction


@pytest.mark.parametrize('url,shown', [
    ('http://user:s3cret@host:9000/b', 'http://user:********@host:9000/b'),
    ('http://host:9000', 'http://host:9000'),
    ('s3://bucket/prefix', 's3://bucket/prefix'),
    ('https://h/hook?token=abc123&s=3', 'https://h/hook?token=********&s=3'),
    ('https://ghp_tok3n@github.com/x.git', 'https://********@github.com/x.git'),
    ('https://u:p%40ss@h/?api_key=k', 'https://u:********@h/?api_key=********'),
    ('http://[::1', '<invalid url>'),
])
def test_safe_url_keeps_the_user_and_masks_password_and_tokens(url, shown):
    assert redaction.safe_url(url) == shown


def test_one_masking_form_everywhere():
    url = 'http://minio:pw-9f1@127.0.0.1:9000/bkt'
    shown = 'http://minio:********@127.0.0.1:9000/bkt'
    assert redaction.safe_url(url) == health.safe_url(url) == bs.safe_url(url) == shown


def test_backup_store_safe_url_masks_urls_inside_an_error_text():
    text = 'Could not connect to the endpoint URL: "http://ak:sec@127.0.0.1:1/bkt?list-type=2"'
    assert bs.safe_url(text) == 'Could not connect to the endpoint URL: "http://ak:********@127.0.0.1:1/bkt?list-type=2"'
    assert bs.safe_url(None) is None and bs.safe_url('') == ''


def test_s3_store_describes_its_endpoint_in_the_one_form():
    store = bs.S3Store('s3://bkt/pg', {'s3_endpoint_url': 'http://minio:pw-77@127.0.0.1:9000',
                                       'aws_access_key': 'a', 'aws_secret_key': 'b'})
    assert store.describe() == 's3://bkt/pg (endpoint http://minio:********@127.0.0.1:9000)'


def test_mask_replaces_known_values_longest_first():
    assert redaction.mask('pw pw-long pw', ['pw', 'pw-long', None, '']) == '******** ******** ********'
    assert redaction.mask(ValueError('bad pw'), ['pw']) == 'bad ********'
    assert redaction.mask('a key abc', ['a', 'abc'], min_length=4) == 'a key abc'


def test_redact_masks_values_and_urls():
    out = redaction.redact('login failed for s3cr3t at http://u:p@h/x?sig=zz', ['s3cr3t'])
    assert out == 'login failed for ******** at http://u:********@h/x?sig=********'


def test_domain_redactors_use_the_one_helper():
    assert pg.redact('password=pgpw host=h', {'login_password': 'pgpw'}) == 'password=******** host=h'
    assert pg.redact('no secret', None) == 'no secret'
    assert redis_client.redact('AUTH rpw failed', {'password': 'rpw'}) == 'AUTH ******** failed'
    assert fr.redact('key AKIA1234 and abc', {'aws_access_key': 'AKIA1234', 'aws_secret_key': 'abc'}) == \
        'key ******** and abc'         # values shorter than 4 characters are left (as before)


def test_health_redact_uses_the_one_helper():
    check = {'login_password': 'hpw', 'url': 'http://u:up@h/'}
    assert health.redact('hpw then http://x:y@z/', check) == '******** then http://x:********@z/'
    assert health.MASK == redaction.MASK and health.safe_url is redaction.safe_url
    assert health.redact_urls is redaction.redact_urls
