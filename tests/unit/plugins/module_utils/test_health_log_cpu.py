"""The log and cpu check types of health_check (module_utils/health_log.py, health_cpu.py)."""
import datetime
import gzip
import io
import os
import stat

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_http
from ansible_collections.runbook.ops.plugins.module_utils import health_cpu
from ansible_collections.runbook.ops.plugins.module_utils import health_log
from ansible_collections.runbook.ops.plugins.module_utils import probe

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def iso(minutes_ago):
    return (NOW - datetime.timedelta(minutes=minutes_ago)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def norm(**kw):
    check = dict(name='log', type='log')
    check.update(kw)
    return health.normalize_checks([check])[0]


# --------------------------------------------------------------------------- timestamps

@pytest.mark.parametrize('line, expected', [
    ('2026-12-06T11:59:00Z ERROR x', datetime.datetime(2026, 12, 6, 11, 59, tzinfo=UTC)),
    ('2026-12-06 11:59:00.250+01:00 [error]', datetime.datetime(2026, 12, 6, 10, 59, 0, 250000, tzinfo=UTC)),
    ('2026-12-06T11:59:00,5 UTC x', datetime.datetime(2026, 12, 6, 11, 59, 0, 500000, tzinfo=UTC)),
    ('127.0.0.1 - - [06/Dec/2026:11:59:00 +0200] "GET / HTTP/1.1" 500', datetime.datetime(2026, 12, 6, 9, 59, tzinfo=UTC)),
    ('0|api  | 2026-12-06T11:59:00+0000: Error: boom', datetime.datetime(2026, 12, 6, 11, 59, tzinfo=UTC)),
])
def test_timestamps_with_a_zone_are_read_in_utc(line, expected):
    assert health_log.parse_timestamp(line, NOW) == expected


def test_timestamps_without_a_zone_are_the_hosts_local_time(monkeypatch):
    monkeypatch.setenv('TZ', 'Europe/Berlin')
    import time
    time.tzset()
    try:
        assert health_log.parse_timestamp('2026/12/06 12:59:00 [error] 1#1: x', NOW) == \
            datetime.datetime(2026, 12, 6, 11, 59, tzinfo=UTC)
        assert health_log.parse_timestamp('Dec  6 12:59:00 host app[1]: error', NOW) == \
            datetime.datetime(2026, 12, 6, 11, 59, tzinfo=UTC)
    finally:
        monkeypatch.delenv('TZ')
        time.tzset()


def test_a_syslog_line_from_december_read_in_january_is_last_year():
    january = datetime.datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    assert health_log.parse_timestamp('Dec 31 23:50:00 h x', january).year == 2026


def test_lines_without_a_timestamp_and_custom_formats():
    assert health_log.parse_timestamp('    at Object.<anonymous> (app.js:1:1)', NOW) is None
    assert health_log.parse_timestamp('Month 13 is not a date 2026-13-40T00:00:00Z', NOW) is None
    import re
    custom = (re.compile(r'^\[(\d+\.\d+\.\d+ \d+h\d+)\]'), '%d.%m.%Y %Hh%M')
    assert health_log.parse_timestamp('[06.12.2026 11h59] error', NOW, custom).astimezone(UTC).date() == NOW.date()


# --------------------------------------------------------------------------- reading

def test_reverse_lines_yields_every_line_last_first_across_blocks():
    data = b''.join(b'line %d\n' % i for i in range(1000))
    lines = [line for line in health_log.reverse_lines(io.BytesIO(data), block=37) if line]
    assert lines == [b'line %d' % i for i in reversed(range(1000))]


def test_an_overlong_line_is_cut_not_held_whole():
    data = b'x' * 10000 + b'\nlast\n'
    lines = list(health_log.reverse_lines(io.BytesIO(data), block=128, max_line=500))
    assert lines[1] == b'last'
    assert max(len(line) for line in lines) <= 500 + 128


def write(path, lines, mtime=None, gz=False):
    data = ''.join(line + '\n' for line in lines).encode()
    if gz:
        with gzip.open(path, 'wb') as handle:
            handle.write(data)
    else:
        with open(path, 'wb') as handle:
            handle.write(data)
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))


def test_only_the_window_is_counted_and_continuations_follow_their_line(tmp_path):
    log = tmp_path / 'app.log'
    write(str(log), [
        iso(90) + ' ERROR old, outside the window',
        '    at old.js:1',
        iso(50) + ' INFO fine',
        iso(30) + ' ERROR inside',
        'Traceback (most recent call last):',
        '  File "x.py", line 1, in <module>',
        iso(5) + ' error: lowercase counts too (grep -i)',
        iso(1) + ' INFO 0 problems',
    ])
    result = health_log.run(norm(path=str(log)), now=NOW)
    assert result.metrics['errors'] == 3
    assert result.metrics['lines'] == 6
    assert result.metrics['errors_per_hour'] == 3.0
    assert result.findings == []


def test_rotated_parts_are_read_only_while_the_window_reaches_them(tmp_path):
    log = tmp_path / 'app.log'
    write(str(log), [iso(20) + ' ERROR a', iso(10) + ' ERROR b'], mtime=NOW)
    write(str(tmp_path / 'app.log.1'), [iso(70) + ' ERROR too old', iso(40) + ' ERROR c'],
          mtime=NOW - datetime.timedelta(minutes=39))
    write(str(tmp_path / 'app.log.2.gz'), [iso(65) + ' ERROR d', iso(61) + ' ERROR e'], gz=True,
          mtime=NOW - datetime.timedelta(minutes=61))
    # a part last written before the window: never opened (it is not even valid gzip)
    (tmp_path / 'app.log.3.gz').write_bytes(b'not gzip')
    os.utime(str(tmp_path / 'app.log.3.gz'), ((NOW - datetime.timedelta(hours=5)).timestamp(),) * 2)
    result = health_log.run(norm(path=str(log)), now=NOW)
    assert result.metrics['errors'] == 3
    assert result.metrics['files_read'] == 2


def test_a_compressed_part_inside_the_window_is_read(tmp_path):
    log = tmp_path / 'app.log'
    write(str(log), [iso(5) + ' INFO x'], mtime=NOW)
    write(str(tmp_path / 'app.log.1.gz'), [iso(30) + ' ERROR in gz', iso(20) + ' ERROR in gz 2'], gz=True,
          mtime=NOW - datetime.timedelta(minutes=20))
    result = health_log.run(norm(path=str(log)), now=NOW)
    assert result.metrics['errors'] == 2


def test_a_big_log_is_read_only_as_far_as_the_window(tmp_path):
    log = tmp_path / 'big.log'
    old = (iso(600) + ' ERROR ancient ' + 'x' * 200 + '\n').encode()
    with open(str(log), 'wb') as handle:
        for dummy in range(40000):           # ~9 MB outside the window
            handle.write(old)
        for minute in range(30, 0, -1):
            handle.write((iso(minute) + ' ERROR recent\n').encode())
    result = health_log.run(norm(path=str(log)), now=NOW)
    assert result.metrics['errors'] == 30
    assert result.metrics['bytes_read'] < 3 * health_log.BLOCK
    assert os.path.getsize(str(log)) > 8 * 1024 * 1024


def test_a_log_without_readable_timestamps_counts_nothing_and_says_why(tmp_path):
    log = tmp_path / 'plain.log'
    write(str(log), ['ERROR a', 'ERROR b'])
    result = health_log.run(norm(path=str(log)), now=NOW)
    assert result.metrics['errors'] == 0
    assert result.findings and result.findings[0][0] == probe.WARNING
    assert 'timestamp_pattern' in result.findings[0][1]


def test_custom_patterns_and_timestamp_format(tmp_path):
    log = tmp_path / 'custom.log'
    write(str(log), ['[06.12.2026 09h00] E42 old', '[06.12.2026 11h30] WARN slow', '[06.12.2026 11h40] E42 failed'])
    check = norm(path=str(log), patterns=[r'\bE\d+\b'], timestamp_pattern=r'^\[([^\]]+)\]',
                 timestamp_format='%d.%m.%Y %Hh%M', window_minutes=24 * 60)
    now_local = datetime.datetime(2026, 12, 6, 12, 0).astimezone(UTC)
    result = health_log.run(check, now=now_local)
    assert result.metrics['errors'] == 2
    check['window_minutes'] = 60.0
    assert health_log.run(check, now=now_local).metrics['errors'] == 1


def test_a_missing_log_is_a_clear_probe_error(tmp_path):
    with pytest.raises(probe.ProbeError, match='does not exist'):
        health_log.run(norm(path=str(tmp_path / 'nope.log')), now=NOW)


@pytest.mark.parametrize('options, message', [
    ({}, 'give exactly one'),
    ({'path': '/x', 'unit': 'y'}, 'give exactly one'),
    ({'path': '/x', 'window_minutes': 0}, 'window_minutes must be above 0'),
    ({'path': '/x', 'patterns': ['(unclosed']}, 'not a valid regular expression'),
    ({'path': '/x', 'timestamp_pattern': '^(x)'}, 'go together'),
    ({'path': '/x', 'timestamp_pattern': '^x', 'timestamp_format': '%Y'}, 'needs a group'),
])
def test_bad_log_options_are_refused_before_probing(options, message):
    with pytest.raises(health.HealthConfigError, match=message):
        norm(**options)


def test_the_journal_is_read_since_the_window_start(tmp_path, monkeypatch):
    # journalctl is patched (no journald runs in the test machine): the argv and the parsing are checked
    fake = tmp_path / 'journalctl'
    fake.write_text('#!/bin/sh\necho "$@" > %s/argv\n'
                    'printf "%%s\\n" "%s host app[1]: ERROR one" "    continuation error" "%s host app[1]: ok"\n'
                    % (tmp_path, iso(10), iso(5)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', '%s:%s' % (tmp_path, os.environ['PATH']))
    result = health_log.run(norm(unit='app.service'), now=NOW)
    argv = (tmp_path / 'argv').read_text().split()
    assert argv[:2] == ['--unit', 'app.service']
    assert argv[argv.index('--since') + 1] == '@%d' % int((NOW - datetime.timedelta(hours=1)).timestamp())
    assert result.metrics['errors'] == 2 and result.metrics['lines'] == 3


# --------------------------------------------------------------------------- cpu

def test_cpu_busy_share_between_two_samples(tmp_path):
    stat1 = 'cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\n'
    stat2 = 'cpu  250 0 100 850 100 0 0 0 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\ncpu1 1 0 0 0 0 0 0 0 0 0\n'
    path = tmp_path / 'stat'
    path.write_text(stat1)

    def sleep(seconds):
        assert seconds == 0.5
        path.write_text(stat2)
    result = health_cpu.run({'name': 'cpu', 'interval': 0.5, 'timeout': 5}, path=str(path), sleep=sleep)
    # delta: user 150, system 50, idle 50, iowait 50 -> total 300, busy 200
    assert result.metrics == {'busy_pct': 66.67, 'iowait_pct': 16.67, 'steal_pct': 0.0, 'system_pct': 16.67, 'cpus': 2}


def test_cpu_without_time_passing_is_a_probe_error():
    sample = dict((f, 10) for f in health_cpu.FIELDS)
    with pytest.raises(probe.ProbeError, match='Raise the check'):
        health_cpu.busy_metrics(sample, sample, 1)


def test_cpu_is_graded_70_90_by_default_and_the_interval_must_fit_the_timeout():
    check = health.normalize_checks([{'name': 'c', 'type': 'cpu'}])[0]
    assert check['_thresholds'] == {'busy_pct': {'warning': 70, 'critical': 90}}
    assert health.grade('cpu', {'busy_pct': 91.0}, check['_thresholds'])[0] == 'critical'
    with pytest.raises(health.HealthConfigError, match='must be shorter'):
        health.normalize_checks([{'name': 'c', 'type': 'cpu', 'interval': 10, 'timeout': 5}])


def test_cpu_on_this_machine_reads_real_proc_stat():
    result = health_cpu.run({'name': 'cpu', 'interval': 0.2, 'timeout': 5})
    assert 0 <= result.metrics['busy_pct'] <= 100
    assert result.metrics['cpus'] >= 1


# --------------------------------------------------------------------------- http samples

@pytest.mark.parametrize('values, q, expected', [
    ([], 95, None),
    ([5], 95, 5),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 10),
    ([10, 1, 9, 2, 8, 3, 7, 4, 6, 5] * 10, 95, 10),
    (list(range(1, 101)), 99, 99),
])
def test_percentile_is_nearest_rank(values, q, expected):
    assert health_http.percentile(values, q) == expected
