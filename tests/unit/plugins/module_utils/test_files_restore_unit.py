# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore: names, the unchanged check, ETags, atomic downloads, refusals and messages (fake S3 client)."""
from __future__ import annotations

import datetime
import hashlib
import os
import stat

import botocore.exceptions
import pytest
from unittest import mock

from ansible_collections.runbook.ops.plugins.module_utils import files_restore as fr

MIB = 1024 * 1024
T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------------------------
# a fake S3 client

class Body(object):
    def __init__(self, data, fail_after=None):
        self.data, self.fail_after, self.closed = data, fail_after, False

    def iter_chunks(self, size):
        for i in range(0, len(self.data), 4):
            if self.fail_after is not None and i >= self.fail_after:
                raise botocore.exceptions.ResponseStreamingError(error='connection reset')
            yield self.data[i:i + 4]

    def close(self):
        self.closed = True


class FakeS3(object):
    def __init__(self, objects, etags=None, fail=None, error=None, truncate=None):
        self.objects = objects            # key -> bytes
        self.etags = etags or {}
        self.fail = fail or {}            # key -> byte offset where the stream breaks
        self.truncate = truncate or set()
        self.error = error                # raised by the listing
        self.gets = []
        self.pages = []

    def etag(self, key):
        return '"%s"' % self.etags.get(key, hashlib.md5(self.objects[key]).hexdigest())

    def get_paginator(self, name):
        assert name == 'list_objects_v2'
        fake = self

        class P(object):
            def paginate(self, **kw):
                fake.pages.append(kw)
                if fake.error:
                    raise fake.error
                keys = sorted(k for k in fake.objects if k.startswith(kw.get('Prefix', '')))
                for i in range(0, max(len(keys), 1), 2):
                    yield {'Contents': [{'Key': k, 'Size': len(fake.objects[k]), 'ETag': fake.etag(k),
                                         'LastModified': T0} for k in keys[i:i + 2]]}
        return P()

    def get_object(self, Bucket, Key):
        self.gets.append(Key)
        data = self.objects[Key]
        length = len(data)
        if Key in self.truncate:
            data = data[:-1]
        return {'Body': Body(data, self.fail.get(Key)), 'ContentLength': length, 'ETag': self.etag(Key),
                'LastModified': T0}

    def head_object(self, Bucket, Key, PartNumber=None):
        return {'ContentLength': len(self.objects[Key])}


def params(dest, **kw):
    p = dict(src='s3://bkt/pre', dest=dest, s3_endpoint_url=None, aws_region=None, aws_access_key=None,
             aws_secret_key=None, owner=None, group=None, mode='0644', dir_mode='0755', delete=False,
             exclude=[], concurrency=4, max_files=100000)
    p.update(kw)
    return p


def client_error(code, op='ListObjectsV2'):
    return botocore.exceptions.ClientError({'Error': {'Code': code, 'Message': 'msg ' + code}}, op)


# ---------------------------------------------------------------------------------------------
# names

@pytest.mark.parametrize('rel,why', [
    ('a/b/c.txt', None),
    ('.hidden', None),
    ('x..y/..z', None),
    ('', 'empty'),
    ('/etc/passwd', 'absolute'),
    ('../escape', "'..'"),
    ('a/../../b', "'..'"),
    ('a/..', "'..'"),
    ('a//b', "empty or '.'"),
    ('./a', "empty or '.'"),
    ('a\\..\\b', 'backslash'),
    ('a\x00b', 'NUL'),
    ('x' * 256, 'longer than 255'),
])
def test_name_problem(rel, why):
    got = fr.name_problem(rel)
    if why is None:
        assert got is None
    else:
        assert why in got


def test_file_conflicts_and_exclude():
    assert fr.file_conflicts(['a', 'a/b', 'c/d', 'c/e', 'f/g/h', 'f']) == ['a', 'f']
    assert fr.excluded('tmp/x/y', ['tmp/*']) and fr.excluded('a.local', ['*.local'])
    assert not fr.excluded('x/tmp/y', ['tmp/*'])


@pytest.mark.parametrize('src,bucket,prefix', [
    ('s3://bkt', 'bkt', ''), ('s3://bkt/', 'bkt', ''), ('s3://bkt/a/b', 'bkt', 'a/b/'), ('s3://bkt/a/', 'bkt', 'a/'),
])
def test_parse_src(src, bucket, prefix):
    assert fr.parse_src(src) == (bucket, prefix)


@pytest.mark.parametrize('src', ['/local/dir', 'http://x/y', 's3://', 's3:///p', 's3://b;rm/p', 's3://bkt/a\x00b'])
def test_parse_src_refuses(src):
    with pytest.raises(fr.RestoreError):
        fr.parse_src(src)


def test_modes_and_endpoint_display():
    assert fr.parse_mode('0640', 'mode') == 0o640 and fr.parse_mode('755', 'mode') == 0o755
    assert fr.parse_mode(0o600, 'mode') == 0o600
    for bad in ('u+rw', '0999', 'rw-r--r--', '', 99999):
        with pytest.raises(fr.RestoreError):
            fr.parse_mode(bad, 'mode')
    assert fr.display_endpoint('https://user:pw@s3.example:9000/x?a=b') == 'https://s3.example:9000/x'
    assert fr.display_endpoint(None) == 'AWS'


# ---------------------------------------------------------------------------------------------
# ETags and the unchanged check

def multipart_etag_by_hand(data, ps):
    digests = [hashlib.md5(data[i:i + ps]).digest() for i in range(0, len(data), ps)]
    return '%s-%d' % (hashlib.md5(b''.join(digests)).hexdigest(), len(digests))


def test_multipart_etags_match_s3s_formula(tmp_path):
    data = os.urandom(3 * MIB + 777)
    p = tmp_path / 'f'
    p.write_bytes(data)
    odd = 1000003  # not a multiple of the read chunk
    got = fr.multipart_etags(str(p), [MIB, 2 * MIB, odd])
    assert got == {MIB: multipart_etag_by_hand(data, MIB), 2 * MIB: multipart_etag_by_hand(data, 2 * MIB),
                   odd: multipart_etag_by_hand(data, odd)}
    exact = tmp_path / 'exact'
    exact.write_bytes(data[:2 * MIB])
    assert fr.multipart_etags(str(exact), [MIB])[MIB].endswith('-2')   # no empty trailing part


def test_candidate_part_sizes():
    size = 20 * MIB + 5
    # 8 and 10 MiB are usual sizes, 7 MiB is size / parts rounded up to a MiB
    assert fr.candidate_part_sizes(size, 3) == ([8 * MIB, 10 * MIB, 7 * MIB], False)
    assert fr.candidate_part_sizes(size, 3, known=7 * MIB + 1) == ([7 * MIB + 1], True)
    # a server that answers the whole size to a PartNumber probe (moto) is not believed
    assert fr.candidate_part_sizes(size, 3, known=size) == ([8 * MIB, 10 * MIB, 7 * MIB], False)
    assert fr.candidate_part_sizes(size, 9999)[0] == []


def obj(data, etag=None, mtime=T0.timestamp()):
    return {'key': 'k', 'size': len(data), 'etag': '"%s"' % (etag or hashlib.md5(data).hexdigest()), 'mtime': mtime}


def test_unchanged_single_part(tmp_path):
    p = tmp_path / 'f'
    p.write_bytes(b'hello')
    assert fr.unchanged(str(p), 5, obj(b'hello')) == (True, 'md5')
    assert fr.unchanged(str(p), 5, obj(b'HELLO')) == (False, 'md5')       # same size, other content
    assert fr.unchanged(str(p), 5, obj(b'hello!')) == (False, 'size')


def test_unchanged_multipart(tmp_path):
    data = os.urandom(17 * MIB)
    p = tmp_path / 'f'
    p.write_bytes(data)
    good = obj(data, multipart_etag_by_hand(data, 8 * MIB).upper())
    assert fr.unchanged(str(p), len(data), good) == (True, 'multipart-etag')
    # part size reported by the server (5 MiB parts)
    five = obj(data, multipart_etag_by_hand(data, 5 * MIB))
    assert fr.unchanged(str(p), len(data), five, lambda: 5 * MIB) == (True, 'multipart-etag')
    # known part size and a different content: changed, whatever the mtime
    other = obj(data, multipart_etag_by_hand(os.urandom(17 * MIB), 5 * MIB))
    assert fr.unchanged(str(p), len(data), other, lambda: 5 * MIB) == (False, 'multipart-etag')
    # unknown part size (7 MiB, not guessed): size + mtime >= LastModified
    seven = obj(data, multipart_etag_by_hand(data, 7 * MIB), mtime=os.stat(p).st_mtime - 10)
    assert fr.unchanged(str(p), len(data), seven) == (True, 'mtime')
    seven['mtime'] = os.stat(p).st_mtime + 10
    assert fr.unchanged(str(p), len(data), seven) == (False, 'mtime')


def test_unchanged_other_etag_uses_mtime(tmp_path):
    p = tmp_path / 'f'
    p.write_bytes(b'abc')
    o = obj(b'abc', 'not-an-md5', mtime=os.stat(p).st_mtime - 1)
    assert fr.unchanged(str(p), 3, o) == (True, 'mtime')


# ---------------------------------------------------------------------------------------------
# downloads: temp file in the target's directory, no partial file, cleanup

def test_download_is_atomic_and_sets_mode_and_mtime(tmp_path):
    s3 = FakeS3({'pre/a/f.txt': b'new content'})
    dest = tmp_path / 'd'
    r = fr.restore(params(str(dest), mode='0600'), client=s3)
    assert r['downloaded'] == 1 and r['files'] == ['a/f.txt'] and r['bytes'] == 11 and r['changed'] is True
    f = dest / 'a' / 'f.txt'
    assert f.read_bytes() == b'new content'
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.stat().st_mtime == T0.timestamp()
    assert stat.S_IMODE((dest / 'a').stat().st_mode) == 0o755
    r = fr.restore(params(str(dest), mode='0600'), client=s3)
    assert r['changed'] is False and r['unchanged'] == 1 and s3.gets == ['pre/a/f.txt']


@pytest.mark.parametrize('fault', ['stream', 'truncated', 'etag', 'oserror'])
def test_failed_download_leaves_no_partial_file(tmp_path, fault):
    data = b'0123456789abcdef' * 8
    kw = {}
    if fault == 'stream':
        kw['fail'] = {'pre/f.bin': 40}
    elif fault == 'truncated':
        kw['truncate'] = {'pre/f.bin'}
    elif fault == 'etag':
        kw['etags'] = {'pre/f.bin': 'f' * 32}
    s3 = FakeS3({'pre/f.bin': data}, **kw)
    dest = tmp_path / 'd'
    dest.mkdir()
    (dest / 'f.bin').write_bytes(b'previous')
    (dest / 'stale').write_bytes(b's')
    p = params(str(dest), delete=True)
    if fault == 'oserror':
        with mock.patch.object(fr.os, 'fsync', side_effect=OSError(28, 'No space left on device')):
            with pytest.raises(fr.RestoreError) as e:
                fr.restore(p, client=s3)
    else:
        with pytest.raises(fr.RestoreError) as e:
            fr.restore(p, client=s3)
    assert sorted(os.listdir(dest)) == ['f.bin', 'stale']          # no temp file left, nothing deleted
    assert (dest / 'f.bin').read_bytes() == b'previous'
    msg = fr.error_message(e.value, p)
    assert msg.startswith('Could not restore files from s3://bkt/pre/ to %s: ' % dest)
    assert msg.endswith('(0 file(s) were restored before the failure, no partial file is left, nothing was deleted).')
    assert {'stream': 'ResponseStreamingError', 'truncated': 'stopped after 127 of 128 bytes',
            'etag': 'does not match its ETag', 'oserror': 'No space left on device'}[fault] in msg


# ---------------------------------------------------------------------------------------------
# refusals happen before any write

@pytest.mark.parametrize('key', ['pre/../escape', 'pre/a/../../b', 'pre//abs', 'pre/c\\d', 'pre/n\x00ul'])
def test_hostile_key_refused_nothing_written(tmp_path, key):
    s3 = FakeS3({'pre/good': b'g', key: b'evil'})
    dest = tmp_path / 'd'
    with pytest.raises(fr.RestoreError) as e:
        fr.restore(params(str(dest)), client=s3)
    assert 'refusing 1 object(s)' in e.value.cause and key in e.value.cause
    assert not dest.exists() and s3.gets == []


def test_file_and_directory_conflict_refused(tmp_path):
    s3 = FakeS3({'pre/a': b'1', 'pre/a/b': b'2'})
    with pytest.raises(fr.RestoreError) as e:
        fr.restore(params(str(tmp_path / 'd')), client=s3)
    assert 'pre/a (it is both a file and a directory prefix)' in e.value.cause


def test_symlink_targets_refused(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    dest = tmp_path / 'd'
    dest.mkdir()
    (dest / 'linkdir').symlink_to(outside)
    (dest / 'linkfile').symlink_to(outside / 'x')
    s3 = FakeS3({'pre/linkdir/f': b'1', 'pre/linkfile': b'2', 'pre/ok': b'3'})
    with pytest.raises(fr.RestoreError) as e:
        fr.restore(params(str(dest)), client=s3)
    assert 'refusing 2 file(s)' in e.value.cause and 'is a symlink' in e.value.cause
    assert os.listdir(outside) == [] and not (dest / 'ok').exists() and s3.gets == []


def test_max_files_refused_before_download(tmp_path):
    s3 = FakeS3({'pre/%d' % i: b'x' for i in range(5)})
    with pytest.raises(fr.RestoreError) as e:
        fr.restore(params(str(tmp_path / 'd'), max_files=4), client=s3)
    assert 'more than max_files=4' in e.value.cause and s3.gets == [] and not (tmp_path / 'd').exists()


@pytest.mark.parametrize('kw,text', [
    ({'concurrency': 0}, 'concurrency 0 is out of range'), ({'concurrency': 65}, 'out of range'),
    ({'dest': 'relative/dir'}, 'not an absolute path'), ({'dest': '/'}, 'root directory'),
    ({'owner': 'no-such-user-xyz'}, 'the user no-such-user-xyz does not exist'),
    ({'dir_mode': 'a+x'}, 'not an octal mode'),
])
def test_bad_options(tmp_path, kw, text):
    p = params(str(tmp_path / 'd'))
    p.update(kw)
    with pytest.raises(fr.RestoreError) as e:
        fr.restore(p, client=FakeS3({}))
    assert text in e.value.cause


def test_check_mode_and_diff_write_nothing(tmp_path):
    s3 = FakeS3({'pre/new': b'n', 'pre/same': b's', 'pre/dir/x': b'x'})
    dest = tmp_path / 'd'
    dest.mkdir()
    (dest / 'same').write_bytes(b's')
    os.chmod(dest / 'same', 0o644)
    (dest / 'gone').write_bytes(b'g')
    before = sorted(os.listdir(dest))
    r = fr.restore(params(str(dest), delete=True), check_mode=True, diff=True, client=s3)
    assert r['changed'] is True and r['files'] == ['dir/x', 'new'] and r['deleted_files'] == ['gone']
    assert r['downloaded'] == 2 and r['unchanged'] == 1 and r['deleted'] == 1 and r['bytes'] == 2
    assert r['total_bytes'] == 3
    assert r['diff']['before'] == 'gone\n' and r['diff']['after'] == 'dir/x\nnew\n'
    assert sorted(os.listdir(dest)) == before and s3.gets == []


def test_diff_is_bounded():
    d = fr.make_diff('/d', [], ['f%03d' % i for i in range(150)])
    assert d['after'].count('\n') == 101 and d['after'].endswith('... and 50 more\n')


# ---------------------------------------------------------------------------------------------
# errors: mapped to advice, secrets never in messages

@pytest.mark.parametrize('code,text,advice', [
    ('NoSuchBucket', 'the bucket bkt does not exist', 'Check the bucket name'),
    ('AccessDenied', 'access denied (AccessDenied)', 's3:ListBucket'),
    ('InvalidAccessKeyId', 'access denied (InvalidAccessKeyId)', 'aws_access_key/aws_secret_key'),
    ('SlowDown', 'S3 error SlowDown', 'Check the S3 endpoint'),
])
def test_listing_errors_are_mapped(tmp_path, code, text, advice):
    secret, access = 'sEcReT-123456', 'AKIATESTKEY123'
    p = params(str(tmp_path / 'd'), aws_access_key=access, aws_secret_key=secret)
    s3 = FakeS3({}, error=client_error(code))
    s3.error.response['Error']['Message'] = 'the key %s and %s leaked' % (access, secret)
    with pytest.raises(fr.RestoreError) as e:
        fr.restore(p, client=s3)
    msg = fr.error_message(e.value, p)
    assert msg.startswith('Could not restore files from s3://bkt/pre/ to %s: %s' % (p['dest'], text))
    assert advice in msg and secret not in msg and access not in msg
    assert not (tmp_path / 'd').exists()


def test_endpoint_errors_never_show_userinfo(tmp_path):
    p = params(str(tmp_path / 'd'), s3_endpoint_url='http://u:topsecret@127.0.0.1:9/')
    e = botocore.exceptions.EndpointConnectionError(endpoint_url='http://127.0.0.1:9/')
    with pytest.raises(fr.RestoreError) as exc:
        fr.restore(p, client=FakeS3({}, error=e))
    msg = fr.error_message(exc.value, p)
    assert 'the S3 endpoint http://127.0.0.1:9/ cannot be reached' in msg and 'topsecret' not in msg
