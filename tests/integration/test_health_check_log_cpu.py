"""health_check's log and cpu types through the real module (ansible runs it): real log files with
rotated parts, the host's real /proc/stat."""
import datetime
import gzip
import os


def _stamp(minutes_ago):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (now - datetime.timedelta(minutes=minutes_ago)).strftime('%Y-%m-%dT%H:%M:%SZ')


def test_log_check_counts_an_error_burst_in_the_last_hour_only(run_module, tmp_path):
    log = tmp_path / 'app.log'
    old = ''.join('%s ERROR yesterday %d\n' % (_stamp(1500 + i), i) for i in range(200, 0, -1))
    burst = ''.join('%s ERROR payment failed %d\n' % (_stamp(30 - i * 0.1), i) for i in range(12))
    log.write_text(old + '%s INFO started\n' % _stamp(45) + burst)
    with gzip.open(str(tmp_path / 'app.log.1.gz'), 'wt') as handle:
        handle.write('%s ERROR two days ago\n' % _stamp(2900))
    two_days = (datetime.datetime.now() - datetime.timedelta(days=2)).timestamp()
    os.utime(str(tmp_path / 'app.log.1.gz'), (two_days, two_days))
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        {'name': 'app errors', 'type': 'log', 'path': str(log)},
        {'name': 'quiet', 'type': 'log', 'path': str(log), 'patterns': ['FATAL']},
    ]})
    by_name = dict((c['name'], c) for c in result['checks'])
    assert by_name['app errors']['metrics']['errors'] == 12
    assert by_name['app errors']['status'] == 'warning'          # seed 002: 10 errors in an hour is too many
    assert 'errors 12 >= warning 10' in by_name['app errors']['message']
    assert by_name['app errors']['metrics']['files_read'] == 1    # the two-day-old part was never opened
    assert by_name['quiet']['status'] == 'ok'
    assert result['changed'] is False


def test_log_check_is_critical_with_a_clear_message_for_a_missing_file(run_module, tmp_path):
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        {'name': 'gone', 'type': 'log', 'path': str(tmp_path / 'missing.log')}]})
    assert result['checks'][0]['status'] == 'critical'
    assert 'does not exist' in result['checks'][0]['message']


def test_bad_log_options_fail_the_module_before_probing(run_module, tmp_path):
    result = run_module('health_check', {'checks': [
        {'name': 'both', 'type': 'log', 'path': str(tmp_path / 'a.log'), 'unit': 'x.service'}]})
    assert result.get('failed')
    assert 'give exactly one' in result['msg']


def test_cpu_check_measures_this_host(run_module):
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        {'name': 'cpu', 'type': 'cpu', 'interval': 0.3, 'thresholds': {'busy_pct': {'warning': 101}}}]})
    check = result['checks'][0]
    assert check['status'] == 'ok', check
    assert 0 <= check['metrics']['busy_pct'] <= 100
    assert check['metrics']['cpus'] >= 1
