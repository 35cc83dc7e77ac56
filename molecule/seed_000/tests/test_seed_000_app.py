"""mysql1's app after seed 000's runbook: v2 deployed, then the operator's rollback to v1 ("Application Restore"),
under PM2; read from the release links, PM2 and the app itself."""
import json
import os

import yaml

testinfra_hosts = ['s0-mysql1']
ROOT = '/srv/yeto-platform'
with open(os.path.join(os.path.dirname(__file__), '..', 'host_vars', 's0-mysql1.yml')) as _f:
    RELEASES = yaml.safe_load(_f)['seed000_releases']


def _app(host):
    out = host.check_output('pm2 jlist')
    procs = json.loads([line for line in out.splitlines() if line.lstrip().startswith('[')][-1])
    apps = [p for p in procs if p['name'] == 'yeto-platform']
    assert len(apps) == 1
    return apps[0]


def test_current_points_to_the_previous_checkpoint(host):
    current = host.file(ROOT + '/current')
    assert current.is_symlink
    assert current.linked_to == '%s/releases/%s' % (ROOT, RELEASES['v1'])


def test_the_app_serves_the_old_version(host):
    assert host.check_output('curl -fsS http://127.0.0.1:3000/version') == 'v1'
    health = json.loads(host.check_output('curl -fsS http://127.0.0.1:3000/health'))
    assert health['status'] == 'ok' and health['release'] == RELEASES['v1']


def test_pm2_runs_the_app_from_the_old_release(host):
    app = _app(host)
    assert app['pm2_env']['status'] == 'online'
    # started through current (so a restart follows the link), running in the release current pointed to
    assert app['pm2_env']['pm_exec_path'] == ROOT + '/current/server.js'
    assert host.check_output('readlink /proc/%d/cwd' % app['pid']) == '%s/releases/%s' % (ROOT, RELEASES['v1'])
    assert host.check_output('ss -Htlnp sport = :3000').count('pid=%d,' % app['pid']) == 1


def test_both_releases_kept(host):
    for v in ('v1', 'v2'):
        assert host.file('%s/releases/%s/VERSION' % (ROOT, RELEASES[v])).content_string.strip() == v


def test_switch_history_deploy_then_rollback(host):
    history = [json.loads(line) for line in host.file(ROOT + '/history.jsonl').content_string.splitlines() if line]
    switches = [(e['release_id'], e['reason']) for e in history if e['action'] == 'activate']
    assert [switch[0] for switch in switches] == [RELEASES[v] for v in ('v1', 'v2', 'v1')]
    assert switches[-1][1] == 'seed 000 Application Restore'
