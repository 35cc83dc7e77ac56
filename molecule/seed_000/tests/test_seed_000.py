"""mysql1 after seed 000's runbook: the data in MariaDB and S3, the app's cache and its restart."""
import json
import os

testinfra_hosts = ['s0-mysql1']
FINGERPRINT = "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT(id, ':', name, ':', value)))) FROM indicators"
S0TOOL = "/opt/runbook/venv/bin/python /root/s0tool.py http://s0-s3:5000 runbook-backups "


def _sql(host, db, query):
    return host.check_output("mariadb -N %s -e \"%s\"" % (db, query)).strip()


def _databases(host):
    return _sql(host, 'mysql', 'SHOW DATABASES').splitlines()


def test_replace_restore_brought_back_the_backed_up_data(host):
    snapshot = host.file('/root/snapshot').content_string.strip()
    assert snapshot.startswith('1000:')
    assert _sql(host, 'appdb', FINGERPRINT) == snapshot
    assert _sql(host, 'appdb', 'SELECT COUNT(*) FROM connectors') == '20'


def test_previous_tables_kept_with_the_later_changes(host):
    olds = [d for d in _databases(host) if d.startswith('appdb_pre_restore_')]
    assert len(olds) == 1
    assert _sql(host, olds[0], 'SELECT COUNT(*) FROM indicators') == '901'
    assert _sql(host, olds[0], "SELECT COUNT(*) FROM indicators WHERE name = 'changed after the backup'") == '1'


def test_seed_dump_restored_into_a_new_database(host):
    assert _sql(host, 'appdb_from_dump', FINGERPRINT) == host.file('/root/dump_fingerprint').content_string.strip()
    assert _sql(host, 'appdb_from_dump', 'SELECT COUNT(*) FROM connectors') == '20'


def test_no_scratch_database_left(host):
    ours = [d for d in _databases(host) if d not in ('information_schema', 'mysql', 'performance_schema', 'sys')]
    assert sorted(d for d in ours if not d.startswith('appdb_pre_restore_')) == ['appdb', 'appdb_from_dump']


def test_nightly_backups_in_s3_with_30_day_retention(host):
    ids = json.loads(host.check_output(S0TOOL + 'list s0-mysql1'))
    faked = json.loads(host.file('/root/faked_ids.json').content_string)
    ten_days, forty_days = faked
    assert forty_days not in ids            # older than 30 days: pruned by the second backup
    assert ten_days in ids                  # younger: kept
    real = [i for i in ids if i not in faked]
    assert len(real) == 2                   # the two nightly runs
    manifest = json.loads(host.check_output(S0TOOL + 'manifest s0-mysql1 %s' % max(real)))
    assert manifest['engine'] == 'mysql' and manifest['database'] == 'appdb'
    rows = dict((t['table'], t['rows']) for t in manifest['tables'])
    assert rows == {'indicators': 1000, 'connectors': 20}


def _pm2_app(host):
    out = host.check_output('pm2 jlist')
    procs = json.loads([line for line in out.splitlines() if line.lstrip().startswith('[')][-1])
    return [p for p in procs if p['name'] == 'yeto-platform'][0]


def test_cache_dir_emptied_other_files_kept(host):
    cache = host.file('/srv/yeto-platform/.cache')
    assert cache.is_directory and cache.listdir() == []
    assert host.file('/srv/yeto-platform/current/server.js').exists
    assert host.file('/srv/yeto-platform/history.jsonl').exists


def test_cache_clear_counted_the_apps_files():
    """The lab's two warm files and trpc-dashboard.json, written by the app for the tRPC call before the clear."""
    path = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports', 'cache_flush.json')
    with open(path) as f:
        d = json.load(f)['hosts']['s0-mysql1']['dir']
    assert d['cleared'] is True and d['entries'] == 3 and d['service'] == 'yeto-platform'


def test_pm2_app_restarted_after_the_clear(host):
    before = json.loads(host.file('/root/pm2_before.json').content_string)
    app = _pm2_app(host)
    assert app['pm2_env']['status'] == 'online'
    assert app['pid'] != before['pid']
    assert app['pm2_env']['restart_time'] == before['restart_time'] + 1
    assert not host.service('yeto-platform').is_running      # the lab's systemd stand-in stays stopped
    assert host.check_output('curl -fsS http://127.0.0.1:3000/') == '<h1>YETO</h1>'


def test_seed_dump_counts_reported(host):
    """The adopted dump had no manifest: the counts are reported, and they are the rows in the new database."""
    r = json.loads(host.file('/root/adopted_restore.json').content_string)
    assert r['adopted']['compression'] == 'gzip' and r['target_db'] == 'appdb_from_dump'
    actual = dict((t['table'], t['actual']) for t in r['verification']['tables'])
    assert actual == {'indicators': 1000, 'connectors': 20}
