"""db1 after pitr_setup, a DROP TABLE after T and a rehearsal PITR to T (read the data, not exit codes)."""
import json

import pytest

testinfra_hosts = ['pi-db1']
PSQL = "runuser -u postgres -- psql -AtX -d appdb -c "


@pytest.fixture(scope='module')
def noted(host):
    """What converge kept: T, the table's fingerprint at T, and what the recovered cluster held."""
    out = host.check_output('cat /root/pitr-target /root/pitr-fingerprint /root/pitr-result.json')
    target, fingerprint, result = out.split('\n', 2)
    return {'target': target.strip(), 'fingerprint': fingerprint.strip(), 'result': json.loads(result)}


def test_archiving_is_on_and_pgbackrest_check_passes(host):
    assert host.check_output(PSQL + '"SHOW archive_mode"') == 'on'
    assert host.run('runuser -u postgres -- pgbackrest --stanza=main check').rc == 0


def test_the_dropped_table_came_back_with_every_row_as_of_t(noted):
    assert noted['fingerprint'].startswith('500:')
    assert noted['result']['recovered'] == noted['fingerprint']


def test_the_recovery_stopped_before_the_drop(noted):
    assert noted['result']['after_drop_absent'] == 't'


def test_recovered_to_the_second_before_the_drop(noted):
    r = noted['result']
    assert r['recovery_target'].replace('T', ' ')[:19] == noted['target'][:19]
    assert r['last_replayed'] <= r['recovery_target']
    assert 0 <= r['rpo_s'] < 60


def test_the_live_cluster_still_lacks_the_table(host):
    assert host.check_output(PSQL + "\"SELECT (to_regclass('pitr_orders') IS NULL) || ':' || "
                                    "(SELECT count(*) FROM pitr_after_drop)\"") == 'true:1'


def test_the_rehearsal_was_torn_down(host, noted):
    assert not host.file(noted['result']['data_dir']).exists
    assert host.run('ss -ltnx | grep -q 5499').rc != 0
