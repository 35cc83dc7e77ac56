"""The app host's file cache after converge: contents gone, directory and outside files kept."""
import json
import os

REPORTS = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
testinfra_hosts = ['cache-app1']


def test_file_cache_emptied_but_kept(host):
    assert host.file('/srv/demo-app/cache').is_directory
    assert host.check_output('ls -A /srv/demo-app/cache') == ''


def test_symlink_target_outside_the_cache_survives(host):
    assert host.file('/etc/hostname').exists
    assert host.file('/etc/hostname').size > 0


def test_app_restarted_and_healthy(host):
    before = int(host.file('/root/app_started_before').content_string.strip())
    now = int(host.check_output('systemctl show -P ExecMainStartTimestampMonotonic demo-app'))
    assert now > before
    assert host.service('demo-app').is_running


def test_warmup_answered_200():
    # the warm-up is sent once for the play (from the app host), recorded by the host that ran it
    with open(os.path.join(REPORTS, 'cache_flush.json')) as f:
        hosts = json.load(f)['hosts']
    warm = [entry for h in hosts.values() for entry in h['warmup']]
    assert warm == [['http://127.0.0.1/health', 200]]
