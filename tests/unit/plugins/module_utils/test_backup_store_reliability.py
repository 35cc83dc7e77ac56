# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_store (issue 17): manifest field validation, S3 timeouts, leftovers of killed writers."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat

import pytest
from unittest import mock

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)


def manifest(bid, created, size=10, sha='a' * 64, **extra):
    m = {'id': bid, 'engine': 'postgresql', 'server_version': '15.18 (Debian 15.18-1.pgdg120+1)', 'database': 'app',
         'created_at': bs.format_time(created), 'duration_s': 1.5, 'format': 'custom', 'compression': 'zstd',
         'size': size, 'sha256': sha, 'data_key': 'data.dump.zst',
         'tables': [{'schema': 'public', 'table': 't', 'rows': 3}], 'pg_dump_version': '15.18', 'globals': None,
         'tags': {}}
    m.update(extra)
    return m


def put_backup(store, created, data=b'0123456789', **extra):
    bid = bs.new_backup_id('app', created)
    store.put_bytes(bs.backup_key(bid, 'data.dump.zst'), data)
    m = manifest(bid, created, size=len(data), sha=hashlib.sha256(data).hexdigest(), **extra)
    store.put_bytes(bs.backup_key(bid, bs.MANIFEST_NAME), json.dumps(m).encode())
    return bid


# --------------------------------------------------------------------------- #13 manifest fields

@pytest.mark.parametrize('field, value, words', [
    ('pg_dump_version', 'fifteen', 'pg_dump_version'),
    ('pg_dump_version', '', 'pg_dump_version'),
    ('pg_dump_version', '.15', 'pg_dump_version'),
    ('server_version', 'abc', 'server_version'),
    ('server_version_num', 'x', 'server_version_num'),
    ('compression', 'lz4', 'compression'),
    ('format', 'tar', 'format'),
    ('engine', 'oracle', 'engine'),
    ('data_key', 'manifest.json', 'data_key'),
    ('data_key', 'data\x00.dump', 'data_key'),
    ('data_key', '', 'data_key'),
    ('sha256', 'A' * 64, 'sha256'),
    ('size', -1, 'size'),
    ('created_at', '2026-13-01T00:00:00Z', 'created_at'),
    ('tables', [{'schema': 'public', 'table': 't', 'rows': 1}, 'x'], 'tables'),
    ('tables', [{'schema': 'public', 'table': 7, 'rows': 1}], 'tables'),
    ('globals', {'key': '../g', 'size': 1, 'sha256': 'a' * 64}, 'globals'),
    ('globals', {'key': 'globals.sql', 'size': 1, 'sha256': 'nothex'}, 'globals'),
    ('tags', 'release', 'tags'),
])
def test_validate_manifest_names_the_bad_field(field, value, words):
    bid = bs.new_backup_id('app', NOW)
    problems = bs.validate_manifest(manifest(bid, NOW, **{field: value}), bid)
    assert problems and any(words in p for p in problems), problems


def test_validate_manifest_accepts_real_versions():
    bid = bs.new_backup_id('app', NOW)
    for v in ('15.18', '9.6', '17.0', '16'):
        assert bs.validate_manifest(manifest(bid, NOW, pg_dump_version=v, server_version_num=150018), bid) == []
    for sv in ('15.18', '16beta1', '15.18 (Debian 15.18-1.pgdg120+1)'):
        assert bs.validate_manifest(manifest(bid, NOW, server_version=sv), bid) == []
    for comp, key in (('gzip', 'data.dump.gz'), ('none', 'data.dump')):
        assert bs.validate_manifest(manifest(bid, NOW, compression=comp, data_key=key), bid) == []


def test_listing_names_the_backup_and_the_field(tmp_path):
    """#13: a non-numeric pg_dump_version is invalid when listing; the reason names the backup and the field."""
    store = bs.open_store({'store': str(tmp_path)})
    bid = put_backup(store, NOW - datetime.timedelta(hours=1), pg_dump_version='fifteen')
    entry = bs.list_backups(store, now=NOW)[0]
    assert entry['valid'] is False
    assert bid in entry['reason'] and 'pg_dump_version' in entry['reason']
    with pytest.raises(bs.StoreError, match='pg_dump_version'):
        bs.select_backup([entry], bid)
    with pytest.raises(bs.StoreError, match='pg_dump_version'):
        bs.select_backup([entry], 'latest')


def test_data_object_larger_than_manifest_size_is_invalid(tmp_path):
    """Pinned: a data object LARGER than the manifest's size is invalid (not only a smaller one)."""
    store = bs.open_store({'store': str(tmp_path)})
    bid = put_backup(store, NOW - datetime.timedelta(hours=1))
    assert bs.list_backups(store, now=NOW)[0]['valid'] is True
    with open(os.path.join(str(tmp_path), bid, 'data.dump.zst'), 'ab') as f:
        f.write(b'X')
    entry = bs.list_backups(store, now=NOW)[0]
    assert entry['valid'] is False
    assert '11 bytes' in entry['reason'] and 'says 10' in entry['reason'] and 'larger' in entry['reason']
    # and the same for the globals object
    bid2 = put_backup(store, NOW - datetime.timedelta(minutes=5),
                      globals={'key': 'globals.sql.zst', 'size': 2, 'sha256': 'b' * 64})
    store.put_bytes(bs.backup_key(bid2, 'globals.sql.zst'), b'123')
    entry = [e for e in bs.list_backups(store, now=NOW) if e['id'] == bid2][0]
    assert entry['valid'] is False and 'globals' in entry['reason']


# --------------------------------------------------------------------------- #10 S3 timeouts

def test_store_argspec_has_s3_timeouts_with_defaults():
    spec = bs.store_argument_spec()
    assert spec['s3_connect_timeout'] == {'type': 'int', 'default': 10}
    assert spec['s3_read_timeout'] == {'type': 'int', 'default': 60}
    assert spec['s3_max_attempts'] == {'type': 'int', 'default': 3}


def test_s3_client_config_from_params():
    # callers with their own argspec (files_restore, the health probe) pass none of the options: the defaults apply
    assert bs.s3_client_config({}) == {'connect_timeout': 10, 'read_timeout': 60,
                                       'retries': {'total_max_attempts': 3, 'mode': 'standard'}}
    assert bs.s3_client_config({'s3_connect_timeout': None, 's3_read_timeout': None, 's3_max_attempts': None}) == \
        bs.s3_client_config({})
    assert bs.s3_client_config({'s3_connect_timeout': 2, 's3_read_timeout': 3, 's3_max_attempts': 1}) == {
        'connect_timeout': 2, 'read_timeout': 3, 'retries': {'total_max_attempts': 1, 'mode': 'standard'}}
    for bad in ({'s3_read_timeout': 0}, {'s3_connect_timeout': -1}, {'s3_max_attempts': 0}):
        with pytest.raises(bs.StoreError, match=list(bad)[0]):
            bs.s3_client_config(bad)


def test_make_s3_client_uses_the_timeouts():
    client = bs.make_s3_client({'aws_region': 'us-east-1', 's3_connect_timeout': 4, 's3_read_timeout': 5,
                                's3_max_attempts': 2})
    cfg = client.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout) == (4, 5)
    assert cfg.retries['total_max_attempts'] == 2
    # files_restore passes its own params and keeps working, with pool size
    client = bs.make_s3_client({'aws_region': 'us-east-1'}, max_pool_connections=12)
    assert (client.meta.config.read_timeout, client.meta.config.max_pool_connections) == (60, 12)


def test_s3_timeout_errors_name_the_option():
    store = bs.open_store({'store': 's3://b/p', 'aws_region': 'us-east-1', 's3_endpoint_url': 'http://127.0.0.1:9',
                           's3_read_timeout': 2, 's3_max_attempts': 1})
    e = store._error('check the bucket b', bs.botocore.exceptions.ReadTimeoutError(endpoint_url='http://127.0.0.1:9'))
    assert 'did not answer within 2 s' in str(e) and 's3_read_timeout' in str(e) and '1 attempt' in str(e)
    e = store._error('check the bucket b', bs.botocore.exceptions.ConnectTimeoutError(endpoint_url='http://x'))
    assert 's3_connect_timeout' in str(e)


def test_endpoint_credentials_never_in_descriptions():
    store = bs.open_store({'store': 's3://b/p', 'aws_region': 'us-east-1',
                           's3_endpoint_url': 'http://user:Pa55word@127.0.0.1:9'})
    assert 'Pa55word' not in store.describe() and '127.0.0.1:9' in store.describe()
    e = store._error('check the bucket b', bs.botocore.exceptions.EndpointConnectionError(
        endpoint_url='http://user:Pa55word@127.0.0.1:9'))
    assert 'Pa55word' not in str(e)


# --------------------------------------------------------------------------- #11 leftovers

def test_temp_files_are_private_and_marked(tmp_path):
    store = bs.open_store({'store': str(tmp_path / 'store')})
    store.check(create=True)
    w = store.open_writer('20260315T120000Z-app-abcdef/data.dump')
    w.write(b'partial')
    st = os.stat(w.tmp)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(w.tmp)).st_mode) & 0o077 == 0
    assert bs.TEMP_RE.match(os.path.basename(w.tmp))
    assert '.%d.' % os.getpid() in os.path.basename(w.tmp)
    w.commit()
    assert stat.S_IMODE(os.stat(w.path).st_mode) == 0o600


def _leave_temp(store, key, data=b'partial'):
    """What a SIGKILLed writer leaves: its temp file, never committed nor aborted."""
    w = store.open_writer(key)
    w.write(data)
    os.close(w.fd)
    w.fd = None
    return w.tmp


def test_local_leftovers_of_a_dead_writer_are_listed_and_swept(tmp_path):
    root = tmp_path / 'store'
    store = bs.open_store({'store': str(root)})
    store.check(create=True)
    good = put_backup(store, NOW - datetime.timedelta(days=1))
    dead = _leave_temp(store, '20260315T110000Z-app-abcdef/data.dump.zst')
    live = _leave_temp(store, '20260315T113000Z-app-fedcba/data.dump.zst')
    # a user's own dotfiles and files of other formats are never ours
    os.makedirs(str(root / '20260315T100000Z-app-123456'))
    user_files = [str(root / '20260315T100000Z-app-123456' / '.data.dump.zst.tmp-notours'),
                  str(root / '.data.dump.zst.tmp-12345678'), str(root / 'notes' / '.x.rbo-tmp.00000000.1.00000000')]
    os.makedirs(str(root / 'notes'))
    for p in user_files:
        with open(p, 'w') as f:
            f.write('mine')
    # the killed writer ran on this host under a pid that no longer exists (above any pid_max)
    parts = os.path.basename(dead).split('.')
    parts[-2] = '99999999'
    killed = os.path.join(os.path.dirname(dead), '.'.join(parts))
    os.rename(dead, killed)
    dead = killed
    found = {os.path.basename(x['key']): x for x in bs.find_leftovers(store)}
    assert set(found) == {os.path.basename(dead), os.path.basename(live)}
    assert found[os.path.basename(dead)]['stale'] is True
    assert 'no longer runs' in found[os.path.basename(dead)]['reason']
    assert found[os.path.basename(live)]['stale'] is False  # this process is its writer
    assert found[os.path.basename(dead)]['kind'] == 'temporary_file'
    assert found[os.path.basename(dead)]['size'] == 7
    # check mode: reported, nothing removed
    planned = bs.sweep_leftovers(store, check_mode=True)
    assert [os.path.basename(x['key']) for x in planned] == [os.path.basename(dead)]
    assert os.path.exists(dead)
    swept = bs.sweep_leftovers(store)
    assert [os.path.basename(x['key']) for x in swept] == [os.path.basename(dead)]
    assert not os.path.exists(dead) and not os.path.exists(os.path.dirname(dead))  # its folder went too
    assert os.path.exists(live)
    assert all(os.path.exists(p) for p in user_files)
    assert [e['id'] for e in bs.list_backups(store)] == [good]


def test_local_leftovers_of_other_hosts_and_old_format_need_age(tmp_path):
    root = tmp_path / 'store'
    store = bs.open_store({'store': str(root)})
    store.check(create=True)
    d = root / '20260315T110000Z-app-abcdef'
    d.mkdir()
    other_host = d / ('.data.dump.zst.rbo-tmp.%s.%d.%s' % ('0' * 8, os.getpid(), 'a' * 8))
    legacy = d / '.data.dump.zst.tmp-0123abcd'
    for p in (other_host, legacy):
        p.write_bytes(b'x')
    t = (NOW - datetime.timedelta(hours=2)).timestamp()
    os.utime(str(other_host), (t, t))
    os.utime(str(legacy), (t, t))
    found = bs.find_leftovers(store, now=NOW)
    assert len(found) == 2 and not any(x['stale'] for x in found)
    later = NOW + datetime.timedelta(days=2)
    found = bs.find_leftovers(store, now=later)
    assert all(x['stale'] for x in found) and all('not written to for' in x['reason'] for x in found)
    assert len(bs.sweep_leftovers(store, now=later)) == 2
    assert os.listdir(str(root)) == []


def test_s3_stale_uploads_under_our_prefix_are_aborted():
    store = bs.open_store({'store': 's3://bucket/pre', 'aws_region': 'us-east-1'})
    client = mock.MagicMock()
    old = NOW - datetime.timedelta(days=2)
    uploads = [
        {'Key': 'pre/20260313T120000Z-app-abcdef/data.dump.zst', 'UploadId': 'U-old', 'Initiated': old},
        {'Key': 'pre/20260315T115900Z-app-abcdef/data.dump.zst', 'UploadId': 'U-new',
         'Initiated': NOW - datetime.timedelta(minutes=1)},
        # a server with a wrong Initiated (moto says 2010): the time in the backup id says it is fresh
        {'Key': 'pre/20260315T115000Z-app-abcdef/globals.sql.gz', 'UploadId': 'U-skew',
         'Initiated': datetime.datetime(2010, 11, 10, tzinfo=UTC)},
        {'Key': 'pre/notes/big.bin', 'UploadId': 'U-user', 'Initiated': old},
        {'Key': 'pre/20260313T120000Z-app-abcdef/other.bin', 'UploadId': 'U-user2', 'Initiated': old},
    ]
    paginator = mock.MagicMock()
    paginator.paginate.return_value = [{'Uploads': uploads}]
    client.get_paginator.return_value = paginator
    store.client = client
    found = {x['upload_id']: x for x in bs.find_leftovers(store, now=NOW)}
    assert set(found) == {'U-old', 'U-new', 'U-skew'}
    assert found['U-old']['stale'] and not found['U-new']['stale'] and not found['U-skew']['stale']
    assert found['U-old']['key'] == '20260313T120000Z-app-abcdef/data.dump.zst'
    assert found['U-old']['kind'] == 'multipart_upload'
    paginator.paginate.assert_called_with(Bucket='bucket', Prefix='pre/')
    swept = bs.sweep_leftovers(store, now=NOW)
    assert [x['upload_id'] for x in swept] == ['U-old']
    client.abort_multipart_upload.assert_called_once_with(
        Bucket='bucket', Key='pre/20260313T120000Z-app-abcdef/data.dump.zst', UploadId='U-old')
