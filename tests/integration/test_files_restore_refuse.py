# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_restore refusals (hostile keys) and error messages without secrets, against a real moto S3 server."""
from __future__ import annotations

import os

from files_restore_fixtures import md5, tree


def test_hostile_keys_are_refused_before_any_write(bucket, workdir, run_module):
    bucket.put_many([('p/good.txt', b'g'), ('p/../escape', b'e'), ('p/a/../../b', b'b'), ('p/c\\d', b'c')])
    dest = os.path.join(workdir, 'dest')
    r = run_module('files_restore', bucket.args(dest, 'p'))
    assert r.get('failed') is True
    assert r['msg'].startswith('Could not restore files from s3://%s/p/ to %s: refusing 3 object(s)' % (bucket.name, dest))
    for key in ('p/../escape', 'p/a/../../b', 'p/c\\d'):
        assert key in r['msg']
    assert 'nothing was written' in r['msg']
    assert os.listdir(workdir) == []                    # not even dest was created
    assert not os.path.exists(os.path.join(os.path.dirname(workdir), 'escape'))

    # a hostile name that is excluded is not restored, and the rest is
    r = run_module('files_restore', bucket.args(dest, 'p', exclude=['*..*', '*\\*']))
    assert not r.get('failed'), r.get('msg')
    assert tree(dest) == {'good.txt': md5(b'g')}


def test_errors_are_clear_and_never_show_secrets(bucket, workdir, run_module):
    secret = 'SeCrEt-%s' % os.urandom(6).hex()
    access = 'AKIA%s' % os.urandom(6).hex().upper()
    args = {'src': 's3://no-such-bucket-%s/x' % os.urandom(3).hex(), 'dest': os.path.join(workdir, 'd'),
            's3_endpoint_url': bucket.endpoint, 'aws_access_key': access, 'aws_secret_key': secret}
    r = run_module('files_restore', args)
    assert r.get('failed') is True
    assert r['msg'].startswith('Could not restore files from %s/ to %s: the bucket' % (args['src'], args['dest']))
    assert 'does not exist' in r['msg'] and 'Check the bucket name' in r['msg']
    for text in (r['_stdout'], r['_stderr']):
        assert secret not in text and access not in text
    assert not os.path.exists(args['dest'])

    bucket.put('ok/f', b'f')
    r = run_module('files_restore', bucket.args(os.path.join(workdir, 'd'), 'ok', aws_access_key=access,
                                                aws_secret_key=secret), diff=True)
    assert not r.get('failed'), r.get('msg')
    for text in (r['_stdout'], r['_stderr']):
        assert secret not in text and access not in text
