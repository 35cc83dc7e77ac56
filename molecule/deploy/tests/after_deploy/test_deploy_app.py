"""app1 after converge (v1, then v2 with a migration) and side_effect.yml (v3 fails its health gate)."""
import json

testinfra_hosts = ['deploy-app1']

ROOT = '/srv/demo-app'
R1, R2, R3 = '20261101T080000Z', '20261110T120000Z', '20261120T101500Z'


def _get(host, path):
    return json.loads(host.check_output('curl -sS --max-time 5 http://127.0.0.1' + path))


def _history(host):
    text = host.file(ROOT + '/history.jsonl').content_string
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_current_points_to_v2(host):
    assert host.file(ROOT + '/current').linked_to == ROOT + '/releases/' + R2


def test_nginx_serves_v2(host):
    assert _get(host, '/')['version'] == 'v2'


def test_health_through_nginx_is_ok(host):
    assert _get(host, '/health') == {'status': 'ok', 'version': 'v2'}


def test_demo_app_runs_from_the_v2_release(host):
    pid = host.check_output('systemctl show -P MainPID demo-app')
    # as the app's own user: a rootless container's root may not read another user's /proc/<pid>/cwd
    assert host.check_output('runuser -u nobody -- readlink /proc/%s/cwd', pid) == ROOT + '/releases/' + R2


def test_v3_marked_failed_by_the_health_gate(host):
    mark = json.loads(host.file(ROOT + '/releases/' + R3 + '.failed').content_string)
    assert mark['reason'].startswith('health failed')


def test_keep_n_kept_v1_and_v2_not_counting_failed_v3(host):
    assert sorted(host.file(ROOT + '/releases').listdir()) == [R1, R2, R3, R3 + '.failed']


def test_history_records_the_switch_to_v3_and_back(host):
    assert [(e['action'], e['release_id']) for e in _history(host)] == [
        ('activate', R1), ('activate', R2), ('activate', R3), ('activate', R2), ('failed', R3)]


def test_rollback_switch_names_the_failed_step(host):
    assert _history(host)[3]['reason'] == 'rollback: health failed for ' + R3


def test_deploy_lock_released(host):
    assert not host.file(ROOT + '/deploy.lock').exists


def test_shared_env_linked_into_the_release(host):
    assert host.file(ROOT + '/current/.env').linked_to == ROOT + '/shared/.env'


def test_copied_artifacts_not_kept(host):
    assert host.file(ROOT + '/artifacts').listdir() == []


def test_each_deploy_backed_up_the_database_tagged_with_its_release(host):
    paths = host.check_output('find /var/backups/runbook-deploy -name manifest.json').split()
    releases = sorted(json.loads(host.file(p).content_string)['tags']['release'] for p in paths)
    assert releases == [R1, R2, R3]
