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
Both with the same forks (FLEET_BENCH_FORKS, default 10).  Prints the wall times, the cost per host, the ratio
health/ping per size (target: <= 2x at 200 hosts) and the growth from the smallest to the largest size (linear
in hosts is a growth equal to the size ratio).  FLEET_BENCH_REPEAT (default 1) takes the median of N runs.
"""

from __future__ import annotations

import os
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


def timed(argv, env):
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:])
        raise SystemExit('bench/fleet: %s failed (rc %d)' % (argv[0], proc.returncode))
    return elapsed


def main():
    work = tempfile.mkdtemp(prefix='rbo-bench-fleet-')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
               ANSIBLE_HOST_KEY_CHECKING='False', RUNBOOK_REPORT_DIR=os.path.join(work, 'reports'),
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.null', ANSIBLE_LOAD_CALLBACK_PLUGINS='0')
    rows = []
    try:
        for size in SIZES:
            inv = inventory(work, size)
            ping = statistics.median(timed([os.path.join(VENV_BIN, 'ansible'), 'all', '-i', inv, '-m', 'ping',
                                            '-f', str(FORKS)], env) for dummy in range(REPEAT))
            health = statistics.median(timed([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inv, '-f', str(FORKS),
                                              'runbook.ops.health_check'], env) for dummy in range(REPEAT))
            rows.append((size, ping, health))
            print('%4d hosts  ping %7.2f s (%5.1f ms/host)   health %7.2f s (%5.1f ms/host)   health/ping %.2fx'
                  % (size, ping, 1000 * ping / size, health, 1000 * health / size, health / ping), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(rows) > 1:
        (s0, p0, h0), (s1, p1, h1) = rows[0], rows[-1]
        print('growth %d -> %d hosts (x%.1f): ping x%.2f, health x%.2f (linear is x%.1f)'
              % (s0, s1, s1 / s0, p1 / p0, h1 / h0, s1 / s0))
    size, ping, health = rows[-1]
    verdict = 'OK' if health / ping <= 2 else 'MISSED'
    print('target: health <= 2.00x ping at %d hosts: %.2fx %s' % (size, health / ping, verdict))


if __name__ == '__main__':
    main()
