# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backup / db_backup_info with engine mysql against a real MariaDB (mysql_fixtures.mariadb_server)."""
from __future__ import annotations

import json
import os

from backup_fixtures import local_files, new_bucket, no_secret, s3_keys
from mysql_fixtures import counts, create_db, unique_db


def test_backup_local_manifest_counts_and_listing(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=500, hostile=True)
    store = str(tmp_path / 'store')
    r = run_module('db_backup', dict(my.params, db=db, store=store, globals=True, retention={'keep_last': 2}))
    assert r.get('failed') is not True, r.get('msg')
    m = r['manifest']
    assert m['engine'] == 'mysql' and m['format'] == 'sql' and m['compression'] == 'zstd'
    assert dict((t['table'], t['rows']) for t in m['tables']) == counts(my, db)
    assert m['globals']['accounts'] >= 2
    files = local_files(store)
    assert any(f.endswith('/manifest.json') for f in files)
    info = run_module('db_backup_info', dict(store=store, db=db, engine='mysql', backup='latest',
                                             verify_checksum=True))
    assert info.get('failed') is not True, info.get('msg')
    assert info['valid_count'] == 1 and info['selected']['id'] == r['backup_id']
    no_secret(r, my.password)


def test_backup_s3_gzip_retention(mariadb_server, moto_server, run_module):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=50)
    bucket = new_bucket(moto_server)
    s3 = dict(store='s3://%s/my' % bucket, s3_endpoint_url=moto_server)
    ids = []
    for dummy in range(3):
        r = run_module('db_backup', dict(my.params, db=db, compression='gzip', retention={'keep_last': 2},
                                         row_counts='estimate', **s3))
        assert r.get('failed') is not True, r.get('msg')
        ids.append(r['backup_id'])
        assert r['manifest']['row_counts'] == 'estimate'
        assert sorted(t['table'] for t in r['manifest']['tables']) == ['audit', 'items', 'orders']
    assert r['pruned'] == [ids[0]]
    keys = s3_keys(moto_server, bucket)
    assert not any(k.startswith('my/' + ids[0]) for k in keys)
    assert any(k == 'my/%s/data.dump.gz' % ids[2] for k in keys)


def test_backup_check_mode_writes_nothing(mariadb_server, run_module, tmp_path):
    my = mariadb_server
    db = create_db(my, unique_db(), rows=10)
    store = str(tmp_path / 'store')
    r = run_module('db_backup', dict(my.params, db=db, store=store), check=True)
    assert r.get('failed') is not True, r.get('msg')
    assert r['manifest'] == {} and not os.path.exists(store)


def test_consistent_counts_while_writing(mariadb_server, run_module, tmp_path):
    """Rows inserted during the dump: the manifest's counts equal the rows in the dump itself."""
    import subprocess
    import threading
    my = mariadb_server
    db = create_db(my, unique_db(), rows=200000)
    stop = threading.Event()

    def writer():
        conn = my.connect(db)
        with conn.cursor() as cur:
            n = 10 ** 7
            while not stop.is_set():
                n += 1
                cur.execute('INSERT INTO orders VALUES (%s, %s, 1)', (n, 'w'))
        conn.close()
    t = threading.Thread(target=writer)
    t.start()
    try:
        store = str(tmp_path / 'store')
        r = run_module('db_backup', dict(my.params, db=db, store=store, compression='none'))
    finally:
        stop.set()
        t.join()
    assert r.get('failed') is not True, r.get('msg')
    rows = dict((x['table'], x['rows']) for x in r['manifest']['tables'])
    dump = os.path.join(store, r['key'])
    # count the rows of orders in the dump: mariadb-dump writes one "(...)," line per row after each INSERT line
    in_dump, inside = 0, False
    with open(dump, encoding='utf-8') as f:
        for line in f:
            if line.startswith('INSERT INTO '):
                inside = line.startswith('INSERT INTO `orders` ')
                in_dump += line.count('),(') + (1 if inside and '(' in line else 0) if inside else 0
            elif inside and line.startswith('('):
                in_dump += 1
            else:
                inside = inside and not line.startswith(('/*', '--', 'UNLOCK'))
    assert rows["orders"] == in_dump > 200000
    assert json.dumps(r['manifest'])
    subprocess.run(['true'], check=True)
