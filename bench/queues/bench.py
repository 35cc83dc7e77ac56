# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: clean N completed BullMQ jobs, BullMQ's own queue.clean from Node vs runbook.ops queue_control.

Run through run.sh (see there for the environment variables). A private redis-server is started on 127.0.0.1
with a free port and removed at the end. Before each method the queue is loaded with N jobs that Node's bullmq
adds and a Node worker completes; while the method runs a separate process sends PING every 1 ms (the pinger of
bench/cache_flush) and records the round trips: the worst one is how long Redis could not answer anybody.
Times are wall clock, including starting the method's process (node, or python importing bullmq).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
QUEUE = 'bench'
# The parent (the harness) imports the pinger of bench/cache_flush and the Node driver of the integration tests,
# which imports pytest; the timed child (--clean) imports only what queue_control needs, as the Node way's process
# loads only bullmq. Both timings include starting the process and loading the library.
cache_bench = NodeBullmq = install_bullmq_npm = None


def _harness():
    global cache_bench, NodeBullmq, install_bullmq_npm  # pylint: disable=global-statement
    for path in (os.path.join(REPO, 'tests'), os.path.join(REPO, 'tests', 'integration'),
                 os.path.join(REPO, 'bench', 'cache_flush')):
        sys.path.insert(0, path)
    import bench as cache_bench  # noqa: E402,F811  the pinger, ports, CPU placement of bench/cache_flush
    from queue_fixtures import NodeBullmq, install_bullmq_npm  # noqa: E402,F811


class _Redis(object):
    password = None

    def __init__(self, port):
        self.port = port


def clean_child(port, batch):
    """Run runbook.ops queue_control (module_utils) in this process; print its result as JSON."""
    sys.path.insert(0, os.path.join(REPO, '.build', 'collections'))
    from ansible_collections.runbook.ops.plugins.module_utils import queues
    if os.environ.get('BENCH_IN_FLIGHT'):
        queues.CLEAN_IN_FLIGHT = int(os.environ['BENCH_IN_FLIGHT'])
    queue_control = queues.queue_control
    params = {'host': '127.0.0.1', 'port': port, 'engine': 'bullmq', 'queues': [QUEUE], 'prefix': 'bull',
              'action': 'clean', 'state': 'completed', 'grace_s': 0, 'limit': 0, 'batch_size': batch,
              'include_delayed': False, 'confirm': None, 'wait_active_s': 0, 'max_stalled_count': 1,
              'celery_timeout': 2.0}
    start = time.perf_counter()
    result = queue_control(params)
    print(json.dumps({'removed': result['affected'], 'ms': (time.perf_counter() - start) * 1000}))


def run_node(nb, batch):
    return nb.clean(QUEUE, batch)


def run_queue_control(port, batch):
    r = subprocess.run([sys.executable, os.path.abspath(__file__), '--clean', str(port), str(batch)],
                       capture_output=True, text=True, timeout=3600, check=False)
    if r.returncode != 0:
        raise RuntimeError('queue_control failed: %s' % r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(port, nb, n, name, func):
    load = nb._run('load', QUEUE, {'n': n}, timeout=7200)  # pylint: disable=protected-access
    if load['completed'] != n:
        raise RuntimeError('loaded %r, expected %d completed jobs' % (load, n))
    ping = subprocess.Popen([sys.executable, cache_bench.__file__, '--pinger', str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=cache_bench._higher_priority)  # pylint: disable=subprocess-popen-preexec-fn,protected-access
    time.sleep(0.3)
    cache_bench.cli(port, 'LATENCY', 'RESET')
    start = time.perf_counter()
    extra = func()
    seconds = time.perf_counter() - start
    time.sleep(0.05)
    out, dummy = ping.communicate('', timeout=60)
    stats = json.loads(out.strip().splitlines()[-1])
    latest = cache_bench.cli(port, 'LATENCY', 'LATEST').split()
    longest = max([int(latest[i + 3]) for i in range(0, len(latest) - 3, 4) if latest[i] in ('command', 'eval')]
                  or [0])
    left = nb.counts(QUEUE)['counts']['completed']
    if left or extra.get('removed') != n:
        raise RuntimeError('%s removed %s, %d completed jobs left; expected %d removed, 0 left'
                           % (name, extra.get('removed'), left, n))
    row = {'method': name, 'jobs': n, 'seconds': seconds, 'jobs_per_s': n / seconds, 'worst_ping_ms': stats['max_ms'],
           'p99_ping_ms': stats['p99_ms'], 'pings': stats['pings'], 'longest_command_ms': longest,
           'inner_ms': extra.get('ms')}
    print('  %-44s %7.2f s %9.0f jobs/s  worst PING %7.2f ms (p99 %5.2f, %5d pings)  longest command %s ms'
          % (name, seconds, row['jobs_per_s'], stats['max_ms'], stats['p99_ms'], stats['pings'],
             longest if longest else '< 1'), flush=True)
    return row


def main():
    _harness()
    n = int(os.environ.get('BENCH_JOBS', '200000'))
    batch = int(os.environ.get('BENCH_BATCH', '1000'))
    for tool in ('redis-server', 'redis-cli', 'node', 'npm'):
        if not shutil.which(tool):
            sys.exit('bench/queues needs %s on PATH' % tool)
    prefix_dir = install_bullmq_npm()
    try:
        os.nice(int(os.environ.get('BENCH_NICE', '-10')))
    except OSError:
        pass
    tmp = tempfile.mkdtemp(prefix='rbo-bench-queues-')
    port = cache_bench.free_port()
    server = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                               '--appendonly', 'no', '--dir', tmp, '--daemonize', 'no', '--protected-mode', 'no',
                               '--latency-monitor-threshold', '1'],
                              stdout=open(os.path.join(tmp, 'redis.log'), 'wb'), stderr=subprocess.STDOUT,
                              preexec_fn=cache_bench._higher_priority)  # pylint: disable=subprocess-popen-preexec-fn,protected-access
    cache_bench._method_cpus()  # pylint: disable=protected-access
    rows = []
    load_start = os.getloadavg()[0]
    try:
        cache_bench.wait_port(port, server)
        nb = NodeBullmq(prefix_dir, _Redis(port))
        print('bench/queues: %d completed BullMQ jobs, batches of %d, redis %s, %d CPUs, load %.1f'
              % (n, batch, cache_bench.cli(port, 'INFO', 'server').split('redis_version:')[1].split()[0],
                 os.cpu_count() or 0, os.getloadavg()[0]), flush=True)
        rows.append(measure(port, nb, n, "BullMQ queue.clean from Node (batches of %d)" % batch,
                            lambda: run_node(nb, batch)))
        rows.append(measure(port, nb, n, 'queue_control action=clean (batch_size %d)' % batch,
                            lambda: run_queue_control(port, batch)))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    ref, ours = rows
    ratio = ours['jobs_per_s'] / ref['jobs_per_s']
    ok = ratio >= 1.0 and ours['worst_ping_ms'] <= 15.0
    print('\nagainst the target (>= 1.0x the Node way jobs/s, worst PING <= 15 ms): %.2fx [%s], worst PING %.2f ms '
          '[%s] (Node way: %.2f ms)' % (ratio, 'ok' if ratio >= 1.0 else 'MISS', ours['worst_ping_ms'],
                                        'ok' if ours['worst_ping_ms'] <= 15.0 else 'MISS', ref['worst_ping_ms']))
    print('load average (1 min) at the start %.1f, at the end %.1f' % (load_start, os.getloadavg()[0]))
    if os.environ.get('BENCH_JSON'):
        with open(os.environ['BENCH_JSON'], 'w') as f:
            json.dump({'jobs': n, 'batch': batch, 'rows': rows, 'ratio': ratio, 'meets_target': ok,
                       'load_start': load_start, 'load_end': os.getloadavg()[0],
                       'in_flight': int(os.environ.get('BENCH_IN_FLIGHT') or 0) or None}, f, indent=2)
    return 0


if __name__ == '__main__':
    if len(sys.argv) > 3 and sys.argv[1] == '--clean':
        clean_child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(main())
