"""Redis after converge (flush cache:*) and side_effect (a --check run)."""
import json
import os

REPORTS = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
testinfra_hosts = ['cache-cache1']


def _count(host, pattern):
    out = host.check_output("REDISCLI_AUTH=lab-redis-pw redis-cli --scan --pattern '%s' | wc -l" % pattern)
    return int(out.strip())


def _report(name='cache_flush.json'):
    with open(os.path.join(REPORTS, name)) as f:
        return json.load(f)


def test_session_keys_untouched(host):
    assert _count(host, 'session:*') == 500


def test_converge_deleted_every_cache_key_including_binary_names():
    redis = _report()['hosts']['cache-cache1']['redis']
    assert redis['deleted'] == 2001
    assert redis['matched'] == 2001


def test_check_mode_deleted_nothing(host):
    # converge removed every cache:* key; the 100 keys written afterwards survived the --check run
    assert _count(host, 'cache:*') == 100
    assert _count(host, 'cache:new:*') == 100


def test_check_mode_report_counted_them():
    redis = _report('cache_flush_check.json')['hosts']['cache-cache1']['redis']
    assert redis['matched'] == 100
    assert redis['deleted'] == 0
