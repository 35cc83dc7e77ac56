# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/health: 20 probes in one health_check call versus the same probes one after another.

Starts PostgreSQL, Redis, an HTTP server (with a slow endpoint) and a TLS server on 127.0.0.1, then
times, in one run:
  1. in-process: health.run_checks(checks, max_workers=N)   versus   max_workers=1 (same code, sequential)
  2. ansible:    one runbook.ops.health_check task with all probes   versus   one task per probe (a loop)
  3. raw tools:  the runbooks' manual commands (curl, psql, redis-cli, df, free, openssl...) one after another
Prints the times and the ratios.  Environment: HEALTH_BENCH_PROBES (20), HEALTH_BENCH_SLOW_S (0.5, the delay
of the slow endpoint), HEALTH_BENCH_REPEAT (3, median of), HEALTH_BENCH_ANSIBLE (1; 0 skips the ansible part).
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, '.build', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'runbook', 'ops')
if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(REPO, LINK)
sys.path.insert(0, COLLECTIONS)
sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))

from conftest import PostgresServer, RedisServer  # noqa: E402  pylint: disable=wrong-import-position
from health_fixtures import HttpFixture, TlsFixture  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.runbook.ops.plugins.module_utils import health  # noqa: E402  pylint: disable=wrong-import-position

VENV_BIN = os.path.dirname(sys.executable)
PROBES = int(os.environ.get('HEALTH_BENCH_PROBES', '20'))
SLOW_S = float(os.environ.get('HEALTH_BENCH_SLOW_S', '0.5'))
REPEAT = int(os.environ.get('HEALTH_BENCH_REPEAT', '3'))
WITH_ANSIBLE = os.environ.get('HEALTH_BENCH_ANSIBLE', '1') != '0'


def build_checks(pg, rd, web, tls, scratch):
    """A daily-check mix: slow and fast HTTP, pg, redis, tcp, disk, memory, load, tls (cycled up to PROBES)."""
    pg_opts = dict(pg.params)
    template = [
        {'type': 'http', 'url': web.url('/slow?s=%s' % SLOW_S), 'thresholds': {'latency_ms': {}}},
        {'type': 'http', 'url': web.url('/ok'), 'expect_body': 'healthy'},
        dict(pg_opts, type='postgres'),
        {'type': 'redis', 'host': '127.0.0.1', 'port': rd.port, 'password': rd.password},
        {'type': 'http', 'url': web.url('/slow?s=%s' % SLOW_S), 'thresholds': {'latency_ms': {}}},
        {'type': 'http', 'url': web.url('/json'), 'expect_json': {'status': 'ok'}},
        {'type': 'tcp', 'host': '127.0.0.1', 'port': pg.port},
        {'type': 'disk', 'path': scratch},
        {'type': 'http', 'url': web.url('/slow?s=%s' % SLOW_S), 'thresholds': {'latency_ms': {}}},
        {'type': 'tls_cert', 'host': '127.0.0.1', 'port': tls.port, 'server_name': 'localhost'},
        dict(pg_opts, type='postgres'),
        {'type': 'redis', 'host': '127.0.0.1', 'port': rd.port, 'password': rd.password},
        {'type': 'http', 'url': web.url('/slow?s=%s' % SLOW_S), 'thresholds': {'latency_ms': {}}},
        {'type': 'memory'},
        {'type': 'load'},
        {'type': 'tcp', 'host': '127.0.0.1', 'port': rd.port},
        {'type': 'disk', 'path': '/'},
        {'type': 'http', 'url': web.url('/ok')},
        {'type': 'http', 'url': web.url('/slow?s=%s' % SLOW_S), 'thresholds': {'latency_ms': {}}},
        {'type': 'http', 'url': web.url('/fail'), 'expect_status': [500]},
    ]
    checks = []
    for i in range(PROBES):
        c = dict(template[i % len(template)])
        c['name'] = 'p%02d %s' % (i, c['type'])
        checks.append(c)
    return checks


def raw_commands(check, pg, rd):
    """What an operator types for the same probe (argv lists; passwords through the environment)."""
    t = check['type']
    if t == 'http':
        return [(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', '--max-time', '10',
                  check['url']], None)]
    if t == 'postgres':
        return [(['psql', '-h', '127.0.0.1', '-p', str(pg.port), '-U', 'postgres', '-X', '-A', '-t', '-c',
                  "SELECT 1; SELECT count(*) FROM pg_stat_activity; SHOW max_connections;"
                  " SELECT count(*) FROM pg_locks WHERE NOT granted;"], {'PGPASSWORD': pg.password})]
    if t == 'redis':
        env = {'REDISCLI_AUTH': rd.password}
        return [(['redis-cli', '-h', '127.0.0.1', '-p', str(rd.port), 'PING'], env),
                (['redis-cli', '-h', '127.0.0.1', '-p', str(rd.port), 'INFO'], env)]
    if t == 'tcp':
        return [(['timeout', '5', 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', check['host'], str(check['port'])], None)]
    if t == 'disk':
        return [(['df', '-P', check['path']], None), (['df', '-P', '-i', check['path']], None)]
    if t == 'memory':
        return [(['free', '-b'], None)]
    if t == 'load':
        return [(['cat', '/proc/loadavg'], None), (['nproc'], None)]
    if t == 'tls_cert':
        return [(['openssl', 's_client', '-connect', '%s:%s' % (check['host'], check['port']), '-servername',
                  check['server_name'], '-showcerts'], None)]
    raise ValueError(t)


def time_raw(checks, pg, rd):
    start = time.monotonic()
    for check in checks:
        for argv, env in raw_commands(check, pg, rd):
            e = dict(os.environ)
            e.update(env or {})
            subprocess.run(argv, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30, check=False)
    return time.monotonic() - start


def time_in_process(checks, workers):
    normalized = health.normalize_checks([dict(c) for c in checks])
    start = time.monotonic()
    report = health.run_checks(normalized, max_workers=workers)
    return time.monotonic() - start, report


def _task_seconds(task):
    d = task['task']['duration']
    fmt = '%Y-%m-%dT%H:%M:%S.%fZ'
    return (datetime.datetime.strptime(d['end'], fmt) - datetime.datetime.strptime(d['start'], fmt)).total_seconds()


def time_ansible(checks, workdir):
    """One play, two tasks: all probes in one call, then one call per probe (loop).  Task durations from
    the json callback, so ansible's start-up is not counted for either."""
    play = [{
        'hosts': 'localhost', 'gather_facts': False,
        'vars': {'bench_checks': checks},
        'tasks': [
            {'name': 'one call', 'runbook.ops.health_check': {'checks': '{{ bench_checks }}', 'fail_on': 'never',
                                                              'max_workers': len(checks)}},
            {'name': 'one call per probe', 'loop': '{{ bench_checks }}', 'loop_control': {'label': '{{ item.name }}'},
             'runbook.ops.health_check': {'checks': ['{{ item }}'], 'fail_on': 'never'}},
        ],
    }]
    path = os.path.join(workdir, 'bench.yml')
    with open(path, 'w') as f:
        json.dump(play, f)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_LOCALHOST_WARNING='False')
    r = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', path],
                       capture_output=True, text=True, env=env, timeout=900, check=False, cwd=workdir)
    out = json.loads(r.stdout)
    tasks = out['plays'][0]['tasks']
    return _task_seconds(tasks[0]), _task_seconds(tasks[1]), tasks[0]['hosts']['localhost']


def median(samples):
    return statistics.median(samples)


def main():
    scratch = tempfile.mkdtemp(prefix='rbo-health-bench-')
    pg = PostgresServer().start()
    rd = RedisServer(password='bench-' + os.urandom(6).hex()).start()
    web = HttpFixture().start()
    tls = TlsFixture(days=5).start()
    try:
        checks = build_checks(pg, rd, web, tls, scratch)
        slow = sum(1 for c in checks if 'slow' in c.get('url', ''))
        print('bench/health: %d probes (%d slow HTTP at %.2fs, %s), median of %d runs'
              % (len(checks), slow, SLOW_S, ', '.join(sorted(set(c['type'] for c in checks))), REPEAT))
        time_in_process(checks, len(checks))       # warm-up: imports, first connections
        par, seq, raw = [], [], []
        for dummy in range(REPEAT):
            t, report = time_in_process(checks, len(checks))
            par.append(t)
            t, dummy2 = time_in_process(checks, 1)
            seq.append(t)
            raw.append(time_raw(checks, pg, rd))
        print('report of the one call: status=%s summary=%s' % (report['status'], report['summary']))
        for c in report['checks']:
            if c['status'] != 'ok':
                print('  %s: %s (%s)' % (c['status'], c['name'], c['message']))
        rows = [
            ('in-process, one call (max_workers=%d)' % len(checks), median(par)),
            ('in-process, one after another (max_workers=1)', median(seq)),
            ('raw tools one after another (curl/psql/redis-cli/df/...)', median(raw)),
        ]
        if WITH_ANSIBLE:
            one, loop, result = time_ansible(checks, scratch)
            assert result.get('summary', {}).get('ok', 0) + result['summary']['warning'] + \
                result['summary']['critical'] == len(checks), result
            rows += [('ansible task, one health_check call', one),
                     ('ansible task, one health_check call per probe (loop)', loop)]
        print()
        print('%-60s %10s' % ('mode', 'seconds'))
        for label, seconds in rows:
            print('%-60s %10.3f' % (label, seconds))
        print()
        print('ratio in-process sequential / concurrent : %.1fx' % (median(seq) / median(par)))
        print('ratio raw tools sequential / concurrent  : %.1fx' % (median(raw) / median(par)))
        if WITH_ANSIBLE:
            print('ratio ansible loop / one call            : %.1fx' % (loop / one))
    finally:
        tls.stop()
        web.stop()
        rd.stop()
        pg.stop()
        subprocess.run(['rm', '-rf', scratch], check=False)


if __name__ == '__main__':
    main()
