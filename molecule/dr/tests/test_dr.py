"""The DR site after the rehearsal (converge) and the failover (side_effect), and the reports."""
import json
import os
import xml.etree.ElementTree as ET

import pytest
import testinfra

REPORTS = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
testinfra_hosts = ['drs-dr-db1']
PSQL = "PGPASSWORD=lab-postgres-pw psql -h 127.0.0.1 -U postgres -AtX "
FETCH = ("/opt/runbook/venv/bin/python -c 'import urllib.request,sys; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' ")


def _other(name):
    return testinfra.get_host('podman://%s' % name)


def _report(name):
    with open(os.path.join(REPORTS, name)) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def app1():
    return _other('drs-app1')


@pytest.fixture(scope='module')
def dr_app1():
    return _other('drs-dr-app1')


@pytest.fixture(scope='module')
def before(app1):
    return json.loads(app1.file('/root/data-before.json').content_string)


def test_restored_data_on_the_dr_database(host, before):
    count = host.check_output(PSQL + "-d appdb -c 'SELECT count(*) FROM items'")
    assert int(count) == before['items'] == 1000
    digest = host.check_output(
        PSQL + "-d appdb -c \"SELECT md5(string_agg(id::text || ':' || name, ',' ORDER BY id)) FROM items\"")
    assert digest.strip() == before['checksum']


def test_roles_restored_with_the_globals(host):
    assert host.check_output(PSQL + "-d postgres -c \"SELECT count(*) FROM pg_roles WHERE rolname = 'app'\"") == '1'
    owner = host.check_output(PSQL + "-d postgres -c \"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb'\"")
    assert owner == 'app'


def test_no_scratch_database_left(host):
    left = host.check_output(PSQL + "-d postgres -c \"SELECT count(*) FROM pg_database WHERE datname LIKE 'rbo_restore_%'\"")
    assert left == '0'


def test_app_healthy_on_the_dr_host_with_the_uploads(dr_app1, before):
    assert dr_app1.service('demo-app').is_running
    assert dr_app1.service('demo-app').is_enabled
    health = json.loads(dr_app1.check_output(FETCH + 'http://127.0.0.1/health/db'))
    assert health['db'] == 'ok' and health['items'] == 1000
    for name in before['uploads']:
        assert dr_app1.file('/srv/demo-app/uploads/' + name).is_file
    env = dr_app1.file('/etc/demo-app/env')
    assert env.mode == 0o640 and 'host=drs-dr-db1' in env.content_string


def test_front_door_serves_the_same_data_from_the_dr_site(app1, before):
    upstream = app1.file('/etc/nginx/conf.d/demo-app-upstream.conf').content_string
    assert 'server drs-dr-app1:80;' in upstream and '127.0.0.1:8000' not in upstream
    after = json.loads(app1.check_output(FETCH + 'http://127.0.0.1/data'))
    for key in ('items', 'max_id', 'checksum', 'uploads'):
        assert after[key] == before[key], key


def test_primary_is_down(app1):
    # the app on app1 itself still points at the dead primary: its own /health/db fails
    out = app1.run(FETCH + 'http://127.0.0.1:8000/health/db')
    assert out.rc != 0 and '503' in out.stderr


def test_failover_report_met_every_objective():
    report = _report('dr-failover.json')
    assert report['ok'] is True
    assert report['meta']['mode'] == 'failover'
    names = [p['name'] for p in report['phases']]
    assert names == ['start', 'assess', 'database', 'files', 'app', 'switch', 'verify_db', 'verify_app']
    assert all(p['status'] == 'ok' for p in report['phases'])
    comps = {c['name']: c for c in report['components']}
    assert comps['database']['rto_met'] and comps['database']['rpo_met']
    assert 0 < comps['database']['rto_s'] <= comps['application']['rto_s'] <= report['total_s'] + 1
    assert comps['database']['rpo_s'] > 0
    assert 'critical' in report['phases'][1]['detail']  # the primary was found down


def test_rehearsal_report_tore_down_and_did_not_switch():
    report = _report('dr-rehearsal-converge.json')
    assert report['ok'] is True
    status = {p['name']: p['status'] for p in report['phases']}
    assert status['switch'] == 'skipped'
    assert status['teardown_app'] == 'ok' and status['teardown_db'] == 'ok'


def test_junit_and_html_reports():
    suite = ET.parse(os.path.join(REPORTS, 'dr-failover.xml')).getroot()
    if suite.tag == 'testsuites':
        suite = suite.find('testsuite')
    assert int(suite.get('failures')) == 0 and int(suite.get('tests')) >= 9
    html = open(os.path.join(REPORTS, 'dr-failover.html')).read()
    assert '<html' in html and 'database' in html and 'verify_app' in html
