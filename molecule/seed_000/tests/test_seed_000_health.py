"""The daily health check's report (on the control node): seed 000's probes ran and read the server."""
import json
import os

testinfra_hosts = ['s0-mysql1']


def _checks():
    path = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports', 'health.json')
    with open(path) as f:
        report = json.load(f)
    host = [h for h in report['hosts'] if h['host'] == 's0-mysql1'][0]
    return dict((c['name'], c) for c in host['checks'])


def test_health_report_holds_seed_000s_probes():
    checks = _checks()
    assert {'mysql', 'api response time', 'root disk', 'memory'} <= set(checks)
    assert all(c['status'] != 'critical' for c in checks.values())


def test_mysql_probe_read_the_server(host):
    m = _checks()['mysql']['metrics']
    assert m['reachable'] is True and m['role'] == 'primary'
    assert m['max_connections'] == int(host.check_output("mariadb -N -e 'SELECT @@max_connections'"))


def test_response_time_over_20_requests():
    c = _checks()['api response time']
    assert c['metrics']['requests'] == 20 and c['metrics']['errors'] == 0
    assert c['metrics']['status_codes'] == {'200': 20}


def test_seed_thresholds_replace_the_defaults():
    checks = _checks()
    assert checks['memory']['thresholds']['used_pct'] == {'warning': 75, 'critical': 90}
    assert checks['root disk']['thresholds']['used_pct'] == {'warning': 80, 'critical': 95}
