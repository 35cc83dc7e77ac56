"""db1 after a backup, GFS retention over faked dates, a verification restore and a replace-restore."""
import datetime
import json

testinfra_hosts = ['br-db1']
PSQL = "PGPASSWORD=lab-postgres-pw psql -h 127.0.0.1 -U postgres -AtX "
STORE = "/opt/runbook/venv/bin/python /root/s3tool.py list http://br-s3:5000 runbook-backups br-db1"


def _sql(host, db, query):
    return host.check_output(PSQL + '-d %s -c "%s"' % (db, query)).strip()


def _when(backup_id):
    return datetime.datetime.strptime(backup_id.split('-', 1)[0], '%Y%m%dT%H%M%SZ')


def _expected_gfs(ids, daily=7, weekly=4, monthly=12):
    """Independent GFS: the newest backup of each of the N most recent days/weeks/months."""
    newest_first = sorted(ids, key=_when, reverse=True)
    keep = {newest_first[0]}
    for n, period in ((daily, lambda d: d.date()), (weekly, lambda d: d.isocalendar()[:2]),
                      (monthly, lambda d: (d.year, d.month))):
        seen = []
        for i in newest_first:
            p = period(_when(i))
            if p not in seen:
                if len(seen) == n:
                    break
                seen.append(p)
                keep.add(i)
    return keep


def test_restored_data_equals_the_backup(host):
    snapshot = host.file('/root/snapshot').content_string.strip()
    now = _sql(host, 'appdb', "SELECT count(*) || ':' || md5(string_agg(id || name, ',' ORDER BY id)) FROM items")
    assert now == snapshot
    assert snapshot.startswith('1000:')


def test_previous_database_kept_with_the_later_changes(host):
    olds = _sql(host, 'postgres', "SELECT datname FROM pg_database WHERE datname LIKE 'appdb_pre_restore_%'")
    assert len(olds.splitlines()) == 1
    old = olds.splitlines()[0]
    assert _sql(host, old, 'SELECT count(*) FROM items') == '901'
    assert _sql(host, old, "SELECT count(*) FROM items WHERE name = 'changed after the backup'") == '1'


def test_no_scratch_database_left(host):
    assert _sql(host, 'postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'rbo_restore%'") == '0'


def test_gfs_kept_exactly_the_expected_backups(host):
    before = json.loads(host.file('/root/ids_before_retention.json').content_string)
    after = json.loads(host.check_output(STORE))
    assert len(before) > 60
    new = set(after) - set(before)
    assert len(new) == 1  # the second real backup
    assert set(after) == _expected_gfs(list(before) + list(new))


def test_gfs_kept_a_backup_about_a_year_old(host):
    after = json.loads(host.check_output(STORE))
    oldest = min(_when(i) for i in after)
    age = datetime.datetime.utcnow() - oldest
    assert 300 < age.days < 420


def test_app_role_still_owns_the_restored_table(host):
    assert _sql(host, 'appdb', "SELECT tableowner FROM pg_tables WHERE tablename = 'items'") == 'app'
