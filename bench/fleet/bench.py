# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/fleet: the controller's cost per host of the health check runbook, beside `ansible -m ping`.

The health check runs every 5 minutes over the whole fleet, so what it costs the controller per host matters.
For each fleet size (FLEET_BENCH_SIZES, default "50 200") this builds an inventory of that many hosts (local
connection aliases: every host is this machine, so the cost measured is the controller's and the module's,
not the network's) and times, in one run:
  1. ping:    ansible all -m ping
  2. health:  ansible-playbook runbook.ops.health_check, one cheap probe (load) per host, its fleet report
Both with the same forks (FLEET_BENCH_FORKS, default 10), the same interpreter and the same environment, one after
the other within each repetition (FLEET_BENCH_REPEAT, default 1), so a load that drifts hits both sides alike.

Printed per size: the wall time of each side (every repetition, then the median), the cost per host, the ratio
health/ping (target: <= 2x at the largest size), and the CPU seconds per host of each side (user+sys of every
process the run started: ansible, its workers, the modules; less sensitive to a loaded machine than wall time).
Then the growth from the smallest to the largest size (linear in hosts is a growth equal to the size ratio; less
means a fixed start-up cost is being spread) and the marginal cost per added host (the slope between the two
sizes, which leaves the fixed cost out).  The load average is printed at each size; the results are also written
to bench/results/fleet-<UTC time>.json.  FLEET_BENCH_COLLECTIONS_PATH benches another build of the collection
(a directory holding ansible_collections/runbook/ops), for example a copy with a change being tried.

What a host costs: every task that runs per host is a worker process per host on the controller, skipped or not.
The health runbook runs two per healthy host (the role's argument validation, which Ansible adds, and the probe
call, whose failed_when applies health_fail_on), against ping's one; the verdict message runs only on the hosts
that failed (a rescue), the report and notifications once. Before the verdict moved into the probe task there
were three: at 200 hosts, two runs each side by side at a load average of 15-25 on 2 CPUs, health/ping went from
2.22x and 2.43x to 1.97x and 2.08x in wall time; the CPU ratio stayed about 1.8x (a skipped task's worker costs
the controller's dispatch loop time more than CPU; the rest is the health_check module's own start-up).
That start-up imported every probe-type file (15 files and the client code they use, compiled from source in
each AnsiballZ run); a run now imports only the files of its checks' types (health.load_types_for): with one
disk or tcp probe, `python -X importtime` of the module put the collection's own imports at about 190 ms before
and 25 ms after (20 runs each, load average 5-6 on 2 CPUs), and 29 fewer modules.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
SIZES = [int(s) for s in os.environ.get('FLEET_BENCH_SIZES', '50 200').split()]
FORKS = int(os.environ.get('FLEET_BENCH_FORKS', '10'))
REPEAT = int(os.environ.get('FLEET_BENCH_REPEAT', '1'))
RESULTS = os.path.join(REPO, 'bench', 'results')
# another build of the collection to compare (a tree holding ansible_collections/runbook/ops); default this checkout
COLLECTIONS = os.environ.get('FLEET_BENCH_COLLECTIONS_PATH', os.path.join(REPO, '.build', 'collections'))


def inventory(directory, size):
    path = os.path.join(directory, 'hosts-%d.ini' % size)
    with open(path, 'w') as handle:
        handle.write('[fleet]\n')
        for i in range(size):
            handle.write('h%04d ansible_connection=local ansible_python_interpreter=%s\n' % (i, sys.executable))
    gv = os.path.join(directory, 'group_vars')
    os.makedirs(gv, exist_ok=True)
    with open(os.path.join(gv, 'all.yml'), 'w') as handle:
        handle.write('health_checks_system:\n  - {name: load, type: load, thresholds: {load5_per_core: {}}}\n')
    return path


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv, env):
    """Wall seconds and CPU seconds (every descendant process, reaped) of one run."""
    cpu = _children_cpu()
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    elapsed = time.monotonic() - start
    cpu = _children_cpu() - cpu
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:])
        raise SystemExit('bench/fleet: %s failed (rc %d)' % (argv[0], proc.returncode))
    return {'s': elapsed, 'cpu_s': cpu}


def measure(size, work, env):
    inv = inventory(work, size)
    ping_argv = [os.path.join(VENV_BIN, 'ansible'), 'all', '-i', inv, '-m', 'ping', '-f', str(FORKS)]
    health_argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inv, '-f', str(FORKS), 'runbook.ops.health_check']
    load_before = os.getloadavg()
    runs = {'ping': [], 'health': []}
    for dummy in range(REPEAT):
        runs['ping'].append(timed(ping_argv, env))
        runs['health'].append(timed(health_argv, env))
    row = {'hosts': size, 'load_before': load_before, 'load_after': os.getloadavg(), 'runs': runs}
    for side in ('ping', 'health'):
        row[side] = statistics.median(r['s'] for r in runs[side])
        row[side + '_cpu'] = statistics.median(r['cpu_s'] for r in runs[side])
    return row


def header():
    print('forks %d (both sides), repeat %d (median shown), %d CPUs; every host is a local-connection alias of this '
          'machine' % (FORKS, REPEAT, os.cpu_count() or 0), flush=True)


def print_row(row):
    size = row['hosts']
    if REPEAT > 1:
        print('%4d hosts  runs: ping %s s; health %s s' % (
            size, ' '.join('%.2f' % r['s'] for r in row['runs']['ping']),
            ' '.join('%.2f' % r['s'] for r in row['runs']['health'])))
    print('%4d hosts  ping %7.2f s (%5.1f ms/host)   health %7.2f s (%5.1f ms/host)   health/ping %.2fx'
          % (size, row['ping'], 1000 * row['ping'] / size, row['health'], 1000 * row['health'] / size,
             row['health'] / row['ping']))
    print('            CPU: ping %5.1f ms/host, health %5.1f ms/host, health/ping %.2fx   '
          'load average %.1f before, %.1f after'
          % (1000 * row['ping_cpu'] / size, 1000 * row['health_cpu'] / size, row['health_cpu'] / row['ping_cpu'],
             row['load_before'][0], row['load_after'][0]), flush=True)


def print_summary(rows):
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        s0, s1 = first['hosts'], last['hosts']
        print('growth %d -> %d hosts (x%.1f): ping x%.2f, health x%.2f (linear is x%.1f)'
              % (s0, s1, s1 / s0, last['ping'] / first['ping'], last['health'] / first['health'], s1 / s0))
        slope = {side: (last[side] - first[side]) / (s1 - s0) for side in ('ping', 'health')}
        print('marginal cost per added host: ping %.1f ms, health %.1f ms (%.2fx); fixed part at %d hosts: '
              'ping %.1f s, health %.1f s'
              % (1000 * slope['ping'], 1000 * slope['health'], slope['health'] / slope['ping'] if slope['ping'] else 0,
                 s1, last['ping'] - slope['ping'] * s1, last['health'] - slope['health'] * s1))
    last = rows[-1]
    ratio = last['health'] / last['ping']
    print('target: health <= 2.00x ping at %d hosts: %.2fx %s' % (last['hosts'], ratio, 'OK' if ratio <= 2 else 'MISSED'))


def main():
    work = tempfile.mkdtemp(prefix='rbo-bench-fleet-')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_HOST_KEY_CHECKING='False', RUNBOOK_REPORT_DIR=os.path.join(work, 'reports'),
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.null', ANSIBLE_LOAD_CALLBACK_PLUGINS='0',
               ANSIBLE_FORKS=str(FORKS))
    rows = []
    header()
    try:
        for size in SIZES:
            rows.append(measure(size, work, env))
            print_row(rows[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_summary(rows)
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, 'fleet-%s.json' % time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))
    with open(path, 'w') as handle:
        json.dump({'sizes': SIZES, 'forks': FORKS, 'repeat': REPEAT, 'cpus': os.cpu_count(), 'collections': COLLECTIONS,
                   'results': rows},
                  handle, indent=2)
    print('results in %s' % path)


if __name__ == '__main__':
    main()
