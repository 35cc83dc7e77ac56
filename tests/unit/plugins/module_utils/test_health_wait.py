# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check's wait_timeout/delay (issue 11): the probe set is run again until it is healthy by fail_on or
wait_timeout has passed. A fake clock: nothing here really sleeps."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.modules import health_check


class FakeClock(object):
    """``clock()`` and ``sleep(s)`` of a clock that only moves when told; each pass takes ``pass_s``."""

    def __init__(self, pass_s=0.5):
        self.now = 1000.0
        self.pass_s = pass_s
        self.sleeps = []
        self.pass_starts = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(clock, statuses):
    """A ``run(checks)`` returning one report per pass with the check status scripted; the last one repeats."""
    calls = []

    def run(checks):
        clock.pass_starts.append(clock.now - 1000.0)
        status = statuses[min(len(calls), len(statuses) - 1)]
        calls.append(status)
        clock.now += clock.pass_s
        result = {'name': 'api', 'type': 'http', 'status': status, 'metrics': {}, 'message': status,
                  'thresholds': {}, 'duration_ms': clock.pass_s * 1000}
        return {'status': status, 'summary': health.summarize([result]), 'checks': [result],
                'duration_ms': clock.pass_s * 1000}
    return run, calls


def wait(statuses, wait_timeout, delay, fail_on='critical', pass_s=0.5):
    clock = FakeClock(pass_s)
    run, calls = scripted(clock, statuses)
    report = health.run_until_healthy([{'name': 'api'}], wait_timeout=wait_timeout, delay=delay, fail_on=fail_on,
                                      run=run, clock=clock.clock, sleep=clock.sleep)
    return report, calls, clock


def test_wait_timeout_0_is_one_pass():
    report, calls, clock = wait(['critical'], wait_timeout=0, delay=5)
    assert len(calls) == 1 and clock.sleeps == []
    assert report['attempts'] == 1 and report['status'] == 'critical'
    assert report['waited_s'] == 0.5


def test_passes_until_healthy_then_stops():
    report, calls, clock = wait(['critical', 'critical', 'ok', 'critical'], wait_timeout=60, delay=5)
    assert calls == ['critical', 'critical', 'ok']
    assert report['attempts'] == 3 and report['status'] == 'ok'
    assert report['checks'][0]['status'] == 'ok'            # the last pass is returned
    assert clock.sleeps == [5, 5]                             # delay between passes, none after the healthy one
    assert report['waited_s'] == 11.5


def test_stops_when_wait_timeout_has_passed():
    report, calls, clock = wait(['critical'], wait_timeout=12, delay=5)
    # passes start at 0, 5.5, 11 and the last one at the deadline (12): the last wait is shortened to reach it
    assert clock.pass_starts == [0, 5.5, 11.0, 12.0]
    assert clock.sleeps == [5, 5, 0.5]
    assert report['attempts'] == 4 and report['status'] == 'critical'
    assert report['waited_s'] == 12.5                         # the window plus one pass, never more


def test_no_pass_starts_after_the_deadline():
    for window, delay in ((1, 5), (10, 3), (7, 7), (60, 5), (2, 1)):
        report, calls, clock = wait(['critical'], wait_timeout=window, delay=delay, pass_s=0.25)
        assert max(clock.pass_starts) <= window
        assert all(s <= delay for s in clock.sleeps)
        assert clock.now - 1000.0 <= window + 0.25


def test_as_many_passes_as_the_retries_it_replaces():
    # window 60 / delay 5 used to be retries=12 (13 attempts) with instant probes: same here
    report, calls, clock = wait(['critical'], wait_timeout=60, delay=5, pass_s=0.0)
    assert report['attempts'] == 13


def test_warning_is_healthy_unless_fail_on_warning():
    report, calls, clock = wait(['warning', 'ok'], wait_timeout=30, delay=5)
    assert report['attempts'] == 1 and report['status'] == 'warning'
    report, calls, clock = wait(['warning', 'ok'], wait_timeout=30, delay=5, fail_on='warning')
    assert report['attempts'] == 2 and report['status'] == 'ok'


def test_fail_on_never_is_one_pass():
    report, calls, clock = wait(['critical'], wait_timeout=30, delay=5, fail_on='never')
    assert report['attempts'] == 1


def test_delay_0_still_ends_at_the_deadline():
    report, calls, clock = wait(['critical'], wait_timeout=3, delay=0, pass_s=1.0)
    assert clock.pass_starts == [0, 1, 2]                   # the pass ending at the deadline is the last
    assert report['attempts'] == 3


def test_real_runner_is_used_by_default():
    probes = {'memory': lambda check: health.ProbeResult({'used_pct': 10.0})}
    (check,) = health.normalize_checks([{'name': 'mem', 'type': 'memory'}])
    report = health.run_until_healthy([check], wait_timeout=0, delay=5, probes=probes)
    assert report['status'] == 'ok' and report['attempts'] == 1 and report['checks'][0]['name'] == 'mem'


# --------------------------------------------------------------------------- through the module


def run_main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            health_check.main()
    result = json.loads(capsys.readouterr().out)
    return exc.value.code != 0 or bool(result.get('failed')), result


def test_module_passes_wait_timeout_and_delay(monkeypatch, capsys):
    seen = {}

    def fake(checks, wait_timeout, delay, fail_on, max_workers):
        seen.update(wait_timeout=wait_timeout, delay=delay, fail_on=fail_on, max_workers=max_workers)
        return {'status': 'ok', 'summary': {'ok': 1, 'warning': 0, 'critical': 0},
                'checks': [{'name': 'mem', 'type': 'memory', 'status': 'ok', 'metrics': {}, 'message': 'ok',
                            'thresholds': {}, 'duration_ms': 1.0}],
                'duration_ms': 1.0, 'attempts': 3, 'waited_s': 10.0}
    monkeypatch.setattr(health, 'run_until_healthy', fake)
    failed, result = run_main({'checks': [{'name': 'mem', 'type': 'memory'}], 'wait_timeout': 30, 'delay': 2},
                              capsys)
    assert not failed
    assert seen == {'wait_timeout': 30, 'delay': 2, 'fail_on': 'critical', 'max_workers': 10}
    assert result['attempts'] == 3 and result['waited_s'] == 10.0


def test_module_defaults_are_one_pass(monkeypatch, capsys):
    monkeypatch.setattr(health, 'PROBES', dict(health.PROBES, memory=lambda c: health.ProbeResult({'used_pct': 1})))
    failed, result = run_main({'checks': [{'name': 'mem', 'type': 'memory'}]}, capsys)
    assert not failed and result['attempts'] == 1 and result['status'] == 'ok'


@pytest.mark.parametrize('option', ['wait_timeout', 'delay'])
def test_module_refuses_negative_wait_options(option, capsys):
    failed, result = run_main({'checks': [{'name': 'mem', 'type': 'memory'}], option: -1}, capsys)
    assert failed
    assert result['msg'] == ('Could not run the checks: %s must be 0 or more, got -1. Set %s to a number of '
                             'seconds.' % (option, option))


def test_module_fails_after_the_last_unhealthy_pass(monkeypatch, capsys):
    monkeypatch.setattr(health, 'PROBES', dict(health.PROBES, memory=lambda c: health.ProbeResult({'used_pct': 99})))
    failed, result = run_main({'checks': [{'name': 'mem', 'type': 'memory'}], 'wait_timeout': 0, 'delay': 1},
                              capsys)
    assert failed and result['status'] == 'critical' and result['attempts'] == 1
    assert result['msg'].startswith('Health check failed (fail_on=critical): critical: mem.')
