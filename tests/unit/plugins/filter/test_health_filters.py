"""The fleet report filters: worst first, silent hosts critical, Markdown escaping."""
import re

from ansible_collections.runbook.ops.plugins.filter.health import health_fleet, health_markdown


def _res(status, checks):
    summary = {'ok': 0, 'warning': 0, 'critical': 0}
    for c in checks:
        summary[c['status']] += 1
    return {'status': status, 'summary': summary, 'checks': checks}


OK = _res('ok', [{'name': 'disk', 'type': 'disk', 'status': 'ok', 'message': 'ok', 'metrics': {'used_pct': 10}}])
WARN = _res('warning', [{'name': 'load', 'type': 'load', 'status': 'warning', 'message': 'high'},
                        {'name': 'disk', 'type': 'disk', 'status': 'ok', 'message': 'ok'}])
CRIT = _res('critical', [{'name': 'a', 'type': 'tcp', 'status': 'ok', 'message': 'ok'},
                         {'name': 'redis', 'type': 'redis', 'status': 'critical', 'message': 'refused'}])


def test_hosts_sorted_worst_first():
    report = health_fleet({'h1': OK, 'h2': WARN, 'h3': CRIT})
    assert [h['host'] for h in report['hosts']] == ['h3', 'h2', 'h1']
    assert report['status'] == 'critical'
    assert report['host_summary'] == {'ok': 1, 'warning': 1, 'critical': 1}


def test_checks_sorted_worst_first_within_host():
    report = health_fleet({'h3': CRIT})
    assert [c['name'] for c in report['hosts'][0]['checks']] == ['redis', 'a']


def test_host_without_result_is_critical():
    report = health_fleet({'h1': OK}, ['h1', 'gone'])
    gone = [h for h in report['hosts'] if h['host'] == 'gone'][0]
    assert gone['status'] == 'critical'
    assert 'unreachable' in gone['message']
    assert report['status'] == 'critical'


def test_rejected_probe_list_is_critical_with_its_message():
    report = health_fleet({'h1': {'status': 'critical', 'msg': 'Could not validate checks: bad'}})
    assert report['hosts'][0]['status'] == 'critical'
    assert report['hosts'][0]['message'] == 'Could not validate checks: bad'


def test_all_ok_fleet_is_ok():
    assert health_fleet({'a': OK, 'b': OK})['status'] == 'ok'


def test_empty_fleet_is_ok_and_renders():
    report = health_fleet({})
    assert report['status'] == 'ok' and report['hosts'] == []
    assert '# Health report' in health_markdown(report)


def test_markdown_table_per_host_worst_first():
    text = health_markdown(health_fleet({'h1': OK, 'h3': CRIT}), generated_at='2026-11-23T00:00:00Z')
    assert text.index('## h3: CRITICAL') < text.index('## h1: OK')
    assert '| redis | redis | CRITICAL | refused |' in text
    assert 'Generated: 2026-11-23T00:00:00Z' in text
    assert 'used_pct=10' in text


def test_markdown_escapes_pipes_and_newlines():
    hostile = _res('critical', [{'name': 'x|y', 'type': 'http', 'status': 'critical',
                                 'message': 'line1\nline2 | injected'}])
    text = health_markdown(health_fleet({'h': hostile}))
    row = [line for line in text.splitlines() if line.startswith('| x')][0]
    assert 'x\\|y' in row and 'line1 line2 \\| injected' in row
    cells = re.split(r'(?<!\\)\|', row)
    assert len(cells) == 8  # six columns between seven unescaped pipes


def test_severity_order_comes_from_module_utils():
    from ansible_collections.runbook.ops.plugins.filter import health as health_filter
    from ansible_collections.runbook.ops.plugins.module_utils import health
    assert health_filter.SEVERITY is health.SEVERITY
    # a status the order does not know counts as critical, as before
    report = health_fleet({'h1': OK, 'h2': _res('unknown', [])})
    assert report['status'] == 'critical' and [h['host'] for h in report['hosts']] == ['h2', 'h1']
