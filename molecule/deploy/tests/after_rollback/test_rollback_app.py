"""app1 after side_effect_rollback.yml: a refused concurrent deploy, then rollbacks to v1 (without the
database), to v2 by name, and to v1 with the database restored."""
import json

testinfra_hosts = ['deploy-app1']

ROOT = '/srv/demo-app'
R1, R2, R3 = '20261101T080000Z', '20261110T120000Z', '20261120T101500Z'
HELD, CONCURRENT = '20261121T090000Z', '20261121T090500Z'


def _history(host):
    text = host.file(ROOT + '/history.jsonl').content_string
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_current_points_to_v1(host):
    assert host.file(ROOT + '/current').linked_to == ROOT + '/releases/' + R1


def test_nginx_serves_v1(host):
    assert json.loads(host.check_output('curl -sS --max-time 5 http://127.0.0.1/'))['version'] == 'v1'


def test_demo_app_runs_from_the_v1_release(host):
    pid = host.check_output('systemctl show -P MainPID demo-app')
    # as the app's own user: a rootless container's root may not read another user's /proc/<pid>/cwd
    assert host.check_output('runuser -u nobody -- readlink /proc/%s/cwd', pid) == ROOT + '/releases/' + R1


def test_rollbacks_recorded_in_history(host):
    assert [(e['action'], e['release_id'], e['previous']) for e in _history(host)[-3:]] == [
        ('activate', R1, R2), ('activate', R2, R1), ('activate', R1, R2)]


def test_neither_the_held_nor_the_refused_deploy_left_a_release(host):
    assert sorted(host.file(ROOT + '/releases').listdir()) == [R1, R2, R3, R3 + '.failed']


def test_deploy_lock_released(host):
    assert not host.file(ROOT + '/deploy.lock').exists


def test_v2_not_marked_failed_by_a_plain_rollback(host):
    assert not host.file(ROOT + '/releases/' + R2 + '.failed').exists
