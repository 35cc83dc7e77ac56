# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_store: key layout, manifest validation, catalogue, selection, writers."""
from __future__ import annotations

import datetime
import json
import os

import pytest
from unittest import mock

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)


def manifest(bid, created, size=10, sha='a' * 64, database='app', **extra):
    m = {'id': bid, 'engine': 'postgresql', 'server_version': '15.18', 'database': database,
         'created_at': bs.format_time(created), 'duration_s': 1.5, 'format': 'custom', 'compression': 'zstd',
         'size': size, 'sha256': sha, 'data_key': 'data.dump.zst', 'tables': [{'schema': 'public', 'table': 't',
                                                                               'rows': 3}],
         'pg_dump_version': '15.18', 'globals': None, 'tags': {}}
    m.update(extra)
    return m


def put_backup(store, created, database='app', data=b'0123456789', with_manifest=True, **extra):
    bid = bs.new_backup_id(database, created)
    store.put_bytes(bs.backup_key(bid, 'data.dump.zst'), data)
    if with_manifest:
        import hashlib
        m = manifest(bid, created, size=len(data), sha=hashlib.sha256(data).hexdigest(), database=database, **extra)
        store.put_bytes(bs.backup_key(bid, bs.MANIFEST_NAME), json.dumps(m).encode())
    return bid


def test_backup_id_and_key_layout():
    bid = bs.new_backup_id('db."x; --', NOW)
    assert bid.startswith('20260315T120000Z-db_x-') and bs.ID_RE.match(bid)
    assert bs.backup_key(bid, 'manifest.json') == bid + '/manifest.json'
    assert bs.data_name('zstd') == 'data.dump.zst' and bs.data_name('gzip') == 'data.dump.gz'
    assert bs.data_name('none') == 'data.dump' and bs.globals_name('zstd') == 'globals.sql.zst'
    for bad_id in ('../etc', '', 'x/y', '20260315T120000Z-a-zzzzzz'):
        with pytest.raises(bs.StoreError):
            bs.backup_key(bad_id, 'manifest.json')
    with pytest.raises(bs.StoreError):
        bs.backup_key(bid, '../manifest.json')
    with pytest.raises(bs.StoreError):
        bs.backup_key(bid, '.hidden')


def test_open_store_urls(tmp_path):
    assert isinstance(bs.open_store({'store': str(tmp_path)}), bs.LocalStore)
    assert bs.open_store({'store': 'file://%s' % tmp_path}).root == str(tmp_path)
    s3 = bs.open_store({'store': 's3://bucket/a/b/', 'aws_region': 'eu-west-1'})
    assert (s3.bucket, s3.prefix) == ('bucket', 'a/b')
    assert s3.describe() == 's3://bucket/a/b'
    for bad in ('relative/dir', 'ftp://host/x', '', 's3://'):
        with pytest.raises(bs.StoreError):
            bs.open_store({'store': bad})


def test_s3_extra_args_and_secrets_not_in_description():
    s3 = bs.open_store({'store': 's3://b/p', 'aws_access_key': 'AKIA1', 'aws_secret_key': 'topsecret',
                        's3_sse': 'aws:kms', 's3_kms_key_id': 'alias/k', 's3_storage_class': 'STANDARD_IA',
                        's3_endpoint_url': 'http://127.0.0.1:9'})
    assert s3.extra_put_args() == {'StorageClass': 'STANDARD_IA', 'ServerSideEncryption': 'aws:kms',
                                   'SSEKMSKeyId': 'alias/k'}
    assert 'topsecret' not in s3.describe() and 'AKIA1' not in s3.describe()


def test_validate_manifest():
    bid = bs.new_backup_id('app', NOW)
    assert bs.validate_manifest(manifest(bid, NOW), bid) == []
    assert bs.validate_manifest([], bid) == ['the manifest is not a JSON object']
    m = manifest(bid, NOW)
    del m['sha256']
    assert bs.validate_manifest(m) == ['field sha256 is missing']
    assert 'field size has the wrong type' in bs.validate_manifest(manifest(bid, NOW, size=True))
    assert 'field sha256 is not a hex sha256' in bs.validate_manifest(manifest(bid, NOW, sha='xyz'))
    assert any('does not match its folder' in p for p in bs.validate_manifest(manifest(bid, NOW), 'other'))
    bad_key = manifest(bid, NOW, data_key='../x')
    assert 'field data_key is not a plain object name' in bs.validate_manifest(bad_key)
    assert any('tables' in p for p in bs.validate_manifest(manifest(bid, NOW, tables=[{'schema': 'a'}])))
    assert any('created_at' in p for p in bs.validate_manifest(manifest(bid, NOW, created_at='yesterday')))
    assert any('globals' in p for p in bs.validate_manifest(manifest(bid, NOW, globals='yes')))


def test_parse_time():
    assert bs.parse_time('2026-03-15T12:00:00Z') == NOW
    assert bs.parse_time('2026-03-15T12:00:00') == NOW
    assert bs.parse_time('2026-03-15T13:00:00+01:00') == NOW
    with pytest.raises(ValueError):
        bs.parse_time('not a time')


def test_local_catalogue_validity_and_order(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    old = put_backup(store, NOW - datetime.timedelta(days=2))
    new = put_backup(store, NOW - datetime.timedelta(hours=1))
    incomplete = put_backup(store, NOW - datetime.timedelta(minutes=5), with_manifest=False)
    other_db = put_backup(store, NOW - datetime.timedelta(minutes=1), database='other')
    truncated = put_backup(store, NOW - datetime.timedelta(minutes=30))
    with open(os.path.join(str(tmp_path), truncated, 'data.dump.zst'), 'wb') as f:
        f.write(b'01234')
    # temp files of a write in progress are not listed
    with open(os.path.join(str(tmp_path), new, '.data.dump.zst.tmp-1234'), 'wb') as f:
        f.write(b'x')
    entries = bs.list_backups(store, database='app', now=NOW)
    ids = [e['id'] for e in entries]
    assert other_db not in ids
    assert ids == [incomplete, truncated, new, old]
    by = {e['id']: e for e in entries}
    assert by[new]['valid'] and by[new]['age_s'] == 3600.0 and by[new]['reason'] == 'ok'
    assert not by[truncated]['valid'] and 'truncated' in by[truncated]['reason']
    assert not by[incomplete]['valid'] and 'no manifest' in by[incomplete]['reason']
    assert bs.select_backup(entries, 'latest')['id'] == new
    assert bs.select_backup(entries, 'before:%s' % bs.format_time(NOW - datetime.timedelta(hours=1)))['id'] == old
    with pytest.raises(bs.StoreError, match='not valid'):
        bs.select_backup(entries, truncated)
    with pytest.raises(bs.StoreError, match='no backup with id'):
        bs.select_backup(entries, 'nope')
    with pytest.raises(bs.StoreError, match='no valid backup was taken before'):
        bs.select_backup(entries, 'before:2020-01-01T00:00:00Z')
    with pytest.raises(bs.StoreError, match='not an ISO 8601 time'):
        bs.select_backup(entries, 'before:soon')
    # checksum verification catches a same-size corruption
    with open(os.path.join(str(tmp_path), new, 'data.dump.zst'), 'wb') as f:
        f.write(b'ABCDEFGHIJ')
    again = {e['id']: e for e in bs.list_backups(store, database='app', verify_checksum=True, now=NOW)}
    assert not again[new]['valid'] and 'sha256 mismatch' in again[new]['reason']
    assert again[old]['valid']


def test_backup_age_for_health_probe(tmp_path):
    params = {'store': str(tmp_path)}
    store = bs.open_store(params)
    store.check(create=True)
    assert bs.backup_age(params, now=NOW) == {'found': False, 'id': None, 'created_at': None, 'age_s': None,
                                              'valid_count': 0, 'invalid_count': 0, 'store': str(tmp_path)}
    bid = put_backup(store, NOW - datetime.timedelta(hours=25))
    put_backup(store, NOW - datetime.timedelta(hours=1), with_manifest=False)
    age = bs.backup_age(params, database='app', now=NOW)
    assert age['found'] and age['id'] == bid and age['age_s'] == 90000.0
    assert age['valid_count'] == 1 and age['invalid_count'] == 1
    with pytest.raises(bs.StoreError, match='does not exist'):
        bs.backup_age({'store': str(tmp_path / 'missing')})


def test_local_writer_atomic_and_abort(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    w = store.open_writer('20260315T120000Z-app-abcdef/data.dump')
    w.write(b'partial')
    assert os.listdir(str(tmp_path / '20260315T120000Z-app-abcdef'))[0].startswith('.data.dump.rbo-tmp.')
    assert store.list_objects() == {}
    w.abort()
    assert os.listdir(str(tmp_path)) == []  # temp file and the folder it made are gone
    w = store.open_writer('20260315T120000Z-app-abcdef/data.dump')
    w.write(b'whole')
    w.commit()
    assert store.list_objects() == {'20260315T120000Z-app-abcdef/data.dump': 5}
    assert store.read_bytes('20260315T120000Z-app-abcdef/data.dump') == b'whole'
    store.delete(['20260315T120000Z-app-abcdef/data.dump'])
    assert os.listdir(str(tmp_path)) == []
    with pytest.raises(bs.StoreError):
        store.open_writer('../escape')


def test_local_writer_reports_disk_full(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    w = store.open_writer('20260315T120000Z-app-abcdef/data.dump')
    with mock.patch('os.write', side_effect=OSError(28, 'No space left on device')):
        with pytest.raises(bs.StoreError, match='no space left on the device'):
            w.write(b'x')
    w.abort()
    assert os.listdir(str(tmp_path)) == []


def test_s3_writer_multipart_and_abort(monkeypatch):
    monkeypatch.setattr(bs, 'S3_PART_SIZE', 4)
    store = bs.open_store({'store': 's3://bucket/pre', 'aws_region': 'us-east-1', 's3_sse': 'AES256'})
    client = mock.MagicMock()
    client.create_multipart_upload.return_value = {'UploadId': 'U1'}
    client.upload_part.side_effect = lambda **kw: {'ETag': 'e%d' % kw['PartNumber']}
    store.client = client
    w = store.open_writer('id/data.dump')
    w.write(b'0123456789')
    w.commit()
    client.create_multipart_upload.assert_called_once_with(Bucket='bucket', Key='pre/id/data.dump',
                                                           ServerSideEncryption='AES256')
    assert [c.kwargs['Body'] for c in client.upload_part.call_args_list] == [b'0123', b'4567', b'89']
    client.complete_multipart_upload.assert_called_once_with(
        Bucket='bucket', Key='pre/id/data.dump', UploadId='U1',
        MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': 'e1'}, {'PartNumber': 2, 'ETag': 'e2'},
                                   {'PartNumber': 3, 'ETag': 'e3'}]})
    # a failure while committing aborts the upload; nothing is completed
    client.reset_mock()
    client.complete_multipart_upload.side_effect = bs.botocore.exceptions.EndpointConnectionError(
        endpoint_url='http://x')
    w = store.open_writer('id/data.dump')
    w.write(b'01234567')
    with pytest.raises(bs.StoreError, match='cannot be reached'):
        w.commit()
    client.abort_multipart_upload.assert_called_once_with(Bucket='bucket', Key='pre/id/data.dump', UploadId='U1')
    # an abort by the caller (pg_dump failed) also aborts
    client.reset_mock()
    w = store.open_writer('id/data.dump')
    w.write(b'01234567')
    w.abort()
    client.abort_multipart_upload.assert_called_once()
    client.complete_multipart_upload.assert_not_called()
    # a small object is a single PUT
    client.reset_mock()
    w = store.open_writer('id/manifest.json')
    w.write(b'{}')
    w.commit()
    client.put_object.assert_called_once_with(Bucket='bucket', Key='pre/id/manifest.json', Body=b'{}',
                                              ServerSideEncryption='AES256')
    client.create_multipart_upload.assert_not_called()


def test_store_argspec_marks_secrets():
    spec = bs.store_argument_spec()
    assert spec['aws_secret_key']['no_log'] is True and spec['aws_access_key']['no_log'] is True
    assert spec['store']['required'] is True
    assert spec['s3_sse']['choices'] == ['AES256', 'aws:kms']


def test_validate_manifest_row_counts_kinds():
    bid = bs.new_backup_id('app', NOW)
    unknown = [{'schema': 'public', 'table': 't', 'rows': None}]
    # manifests without the field have exact counts: an unknown count is invalid there
    assert any('tables' in p for p in bs.validate_manifest(manifest(bid, NOW, tables=unknown)))
    assert any('tables' in p for p in bs.validate_manifest(manifest(bid, NOW, tables=unknown, row_counts='exact')))
    assert bs.validate_manifest(manifest(bid, NOW, tables=unknown, row_counts='estimate'), bid) == []
    assert bs.validate_manifest(manifest(bid, NOW, tables=unknown, row_counts='none'), bid) == []
    assert bs.validate_manifest(manifest(bid, NOW, row_counts='estimate'), bid) == []
    assert 'field row_counts is not one of exact, estimate, none' in bs.validate_manifest(
        manifest(bid, NOW, row_counts='most'))
    negative = [{'schema': 'public', 'table': 't', 'rows': -1}]
    assert any('tables' in p for p in bs.validate_manifest(manifest(bid, NOW, tables=negative, row_counts='estimate')))
    assert any('tables' in p for p in bs.validate_manifest(manifest(bid, NOW, tables=[
        {'schema': 'public', 'table': 't', 'rows': True}], row_counts='estimate')))


def test_s3_part_sizes_grow_and_memory_stays_bounded():
    mib = 1024 * 1024
    assert bs.part_size(1) == bs.part_size(1000) == 8 * mib
    assert bs.part_size(1001) == 16 * mib and bs.part_size(2001) == 32 * mib
    assert bs.part_size(10000) == 4 * 1024 ** 3 <= bs.S3_MAX_PART_SIZE  # within S3's 5 GiB limit
    # 10000 parts hold far more than the 78 GiB of fixed 8 MiB parts
    assert sum(bs.part_size(n) for n in range(1, 10001)) > 1024 ** 4
    assert bs.max_inflight(8 * mib) == 8 and bs.max_inflight(16 * mib) == 4 and bs.max_inflight(5 * 1024 ** 3) == 1


def test_s3_writer_checksums_parts_and_bounds_parts_in_flight(monkeypatch):
    import threading
    import time
    monkeypatch.setattr(bs, 'S3_PART_SIZE', 4)
    monkeypatch.setattr(bs, 'S3_MAX_INFLIGHT', 2)
    store = bs.open_store({'store': 's3://bucket/pre', 'aws_region': 'us-east-1'})
    client = mock.MagicMock()
    client.meta.config.request_checksum_calculation = 'when_supported'
    client.create_multipart_upload.return_value = {'UploadId': 'U1'}
    state = {'now': 0, 'max': 0}
    lock = threading.Lock()

    def upload_part(**kw):
        with lock:
            state['now'] += 1
            state['max'] = max(state['max'], state['now'])
        time.sleep(0.02)
        with lock:
            state['now'] -= 1
        return {'ETag': 'e%d' % kw['PartNumber'], 'ChecksumCRC32': 'c%d' % kw['PartNumber']}
    client.upload_part.side_effect = upload_part
    store.client = client
    w = store.open_writer('id/data.dump')
    data = bytes(range(256)) * 4  # 1024 bytes: 256 parts of 4 bytes
    for i in range(0, len(data), 7):  # writes that do not line up with parts
        w.write(memoryview(data)[i:i + 7])
    w.commit()
    assert state['max'] <= 2  # never more than S3_MAX_INFLIGHT * S3_PART_SIZE bytes in flight
    client.create_multipart_upload.assert_called_once_with(Bucket='bucket', Key='pre/id/data.dump',
                                                           ChecksumAlgorithm='CRC32')
    calls = sorted(client.upload_part.call_args_list, key=lambda c: c.kwargs['PartNumber'])
    assert b''.join(bytes(c.kwargs['Body']) for c in calls) == data
    assert all(c.kwargs['ChecksumAlgorithm'] == 'CRC32' for c in calls)
    parts = client.complete_multipart_upload.call_args.kwargs['MultipartUpload']['Parts']
    assert parts[:2] == [{'PartNumber': 1, 'ETag': 'e1', 'ChecksumCRC32': 'c1'},
                         {'PartNumber': 2, 'ETag': 'e2', 'ChecksumCRC32': 'c2'}] and len(parts) == 256
    # botocore told to send checksums only when required (some S3-compatible servers): none asked for
    client.reset_mock()
    client.meta.config.request_checksum_calculation = 'when_required'
    w = store.open_writer('id/data.dump')
    w.write(b'0123456789')
    w.commit()
    client.create_multipart_upload.assert_called_once_with(Bucket='bucket', Key='pre/id/data.dump')
    assert 'ChecksumAlgorithm' not in client.upload_part.call_args.kwargs
