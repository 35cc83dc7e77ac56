"""Seed 002 after its runbook: jobs processed (none lost), the queue's state, the release pm2 runs, the migration,
the pre-deploy backups, and the cache flushed by pattern and warmed up. Read from the hosts, not exit codes."""
import functools
import json

import testinfra

APP = testinfra.get_host('podman://s2-app1')
CACHE = testinfra.get_host('podman://s2-cache1')
DB = testinfra.get_host('podman://s2-db1')

RELEASES = {'v1': '20261201T080000Z', 'v2': '20261202T080000Z', 'v3': '20261203T080000Z'}
TOOL = 'NODE_PATH=/opt/runbook-node/node_modules node /root/s2/queue_tool.js '
REDIS = 'REDISCLI_AUTH=lab-redis-pw redis-cli --no-auth-warning '


@functools.lru_cache(maxsize=None)
def _processed():
    """job id -> list of the release versions that processed it (from the worker's log, read once: converge is
    over, the log no longer changes). Callers must not modify the result."""
    out = {}
    for line in APP.file('/srv/bull-app/shared/processed.log').content_string.splitlines():
        job, _name, version = line.split()
        out.setdefault(job, []).append(version)
    return out


def _ids(tag, n=5):
    return ['%s-%d' % (tag, i) for i in range(1, n + 1)]


def _json(path):
    return json.loads(APP.file(path).content_string)


def test_every_job_processed_exactly_once():
    processed = _processed()
    expected = ['pre-1'] + _ids('before') + _ids('during-v2') + _ids('during-v3')
    assert sorted(processed) == sorted(expected)
    assert all(len(v) == 1 for v in processed.values()), processed


def test_jobs_before_the_deploys_processed_by_v1():
    processed = _processed()
    assert [processed[j][0] for j in ['pre-1'] + _ids('before')] == ['v1'] * 6


def test_jobs_submitted_during_v2s_deploy_waited_for_the_resume():
    seen = _json('/root/s2/during-v2-before-resume.json')
    assert seen['queue']['paused'] is True
    assert seen['queue']['counts']['wait'] == 5
    assert not [line for line in seen['processed'] if line.startswith('during-v2-')]


def test_jobs_submitted_during_v2s_deploy_processed_by_v2():
    processed = _processed()
    assert [processed[j][0] for j in _ids('during-v2')] == ['v2'] * 5


def test_failed_deploy_resumed_the_queue():
    after = _json('/root/s2/after-v3.json')
    assert after['queue']['paused'] is False


def test_jobs_submitted_during_the_failed_deploy_processed_by_v2():
    processed = _processed()
    assert [processed[j][0] for j in _ids('during-v3')] == ['v2'] * 5


def test_queue_cleaned_and_running():
    now = json.loads(APP.check_output(TOOL + 'counts'))
    assert now['paused'] is False
    assert now['counts'] == {'wait': 0, 'active': 0, 'delayed': 0, 'prioritized': 0, 'completed': 0,
                             'failed': 0, 'paused': 0}


def test_app_runs_v2_under_pm2():
    current = APP.file('/srv/bull-app/current')
    assert current.is_symlink and current.linked_to == '/srv/bull-app/releases/' + RELEASES['v2']
    health = json.loads(APP.check_output('curl -fsS http://127.0.0.1:3001/health'))
    assert health['version'] == 'v2' and health['redis'] == 'ok'
    out = APP.check_output('pm2 jlist')
    procs = dict((p['name'], p['pm2_env']) for p in json.loads(out[out.index('['):]))
    assert sorted(procs) == ['bull-app-api', 'bull-app-worker']
    assert all(p['status'] == 'online' for p in procs.values())
    assert all(p['pm_exec_path'].startswith('/srv/bull-app/') for p in procs.values())


def test_v3_marked_failed_at_its_health_step():
    marker = json.loads(APP.file('/srv/bull-app/releases/%s.failed' % RELEASES['v3']).content_string)
    assert 'health failed' in marker['reason']
    history = [json.loads(line) for line in APP.file('/srv/bull-app/history.jsonl').content_string.splitlines()]
    activated = [e['release_id'] for e in history if e.get('action') == 'activate']
    assert activated == [RELEASES['v1'], RELEASES['v2'], RELEASES['v3'], RELEASES['v2']]


def test_migration_ran_once():
    count = DB.check_output(
        "PGPASSWORD=lab-postgres-pw psql -h 127.0.0.1 -U postgres -d appdb -XAtc "
        "\"SELECT count(*) FROM schema_migrations WHERE version = '002_analysis'\"")
    assert count == '1'


def test_pre_deploy_backups_tagged_with_each_deployed_release():
    # v1 was live before the scenario (prepare.yml); v2 and v3 went through the deploy runbook
    manifests = APP.check_output('find /var/backups/bull-app -name manifest.json').split()
    releases = set()
    for path in manifests:
        tags = json.loads(APP.file(path).content_string).get('tags', {})
        releases.add(tags.get('release'))
    assert {RELEASES['v2'], RELEASES['v3']} <= releases


def test_cache_flushed_by_pattern_only():
    assert CACHE.check_output(REDIS + "--scan --pattern 'gemini:*'") == ''
    assert len(CACHE.check_output(REDIS + "--scan --pattern 'session:*'").split()) == 10
    assert CACHE.check_output(REDIS + 'EXISTS bull:ai-analysis:meta') == '1'


def test_cache_warmed_up_from_the_database():
    keys = CACHE.check_output(REDIS + "--scan --pattern 'project:*'").split()
    assert len(keys) == 100
    ttl = int(CACHE.check_output(REDIS + 'TTL project:1'))
    assert 0 < ttl <= 900
    assert json.loads(CACHE.check_output(REDIS + 'GET project:1')) == {'id': 1, 'warmed_by': 'v2'}
