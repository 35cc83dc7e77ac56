# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: pattern delete in Redis, the seeds' way vs redis-cli --scan vs runbook.ops cache_flush.

Run through run.sh (see there for the environment variables).  A private redis-server is started
on 127.0.0.1 with a free port and removed at the end.  Each method runs on freshly loaded data
(N `cache:*` keys + N `other:*` keys, DEBUG POPULATE) while a separate process sends PING every
1 ms on its own connection and records the round trips: the worst one is how long Redis could
not answer anybody.  Times are wall clock, including starting the method's processes.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PATTERN = 'cache:*'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('redis-server exited early (%s)' % proc.returncode)
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('redis-server did not listen on %d' % port)


# -- child process modes -----------------------------------------------------------------------

def pinger(port):
    """PING every 1 ms until stdin closes; print the round-trip statistics as JSON."""
    sock = socket.create_connection(('127.0.0.1', port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    next_at = time.perf_counter()
    deadline = time.monotonic() + 3600  # bounded: one hour at most
    while time.monotonic() < deadline:
        start = time.perf_counter()
        sock.sendall(b'PING\r\n')
        buf = b''
        while not buf.endswith(b'\r\n'):
            chunk = sock.recv(64)
            if not chunk:
                raise RuntimeError('redis closed the PING connection')
            buf += chunk
        rtts.append(time.perf_counter() - start)
        next_at += 0.001
        wait = max(0.0, next_at - time.perf_counter())
        if wait == 0.0:
            next_at = time.perf_counter()
        readable, dummy, dummy2 = select.select([sys.stdin], [], [], wait)
        if readable:
            break
    sock.close()
    rtts.sort()
    print(json.dumps({'pings': len(rtts), 'max_ms': rtts[-1] * 1000 if rtts else None,
                      'p99_ms': rtts[int(len(rtts) * 0.99)] * 1000 if rtts else None,
                      'median_ms': rtts[len(rtts) // 2] * 1000 if rtts else None}))


def flush_child(port, batch, pure):
    """Run runbook.ops cache_flush (module_utils) in this process; print its result as JSON."""
    if pure:
        sys.modules['hiredis'] = None  # import fails: redis-py falls back to its pure-Python parser
    sys.path.insert(0, os.path.join(REPO, '.build', 'collections'))
    import redis.utils
    from ansible_collections.runbook.ops.plugins.module_utils.cache import cache_flush
    params = {'host': '127.0.0.1', 'port': port, 'db': 0, 'pattern': PATTERN, 'batch_size': batch}
    result = cache_flush(params)
    result['hiredis'] = bool(redis.utils.HIREDIS_AVAILABLE)
    print(json.dumps({k: result[k] for k in ('deleted', 'matched', 'duration_ms', 'batches', 'hiredis', 'freed')}))


# -- the benchmark -----------------------------------------------------------------------------

def cli(port, *args):
    return subprocess.run(['redis-cli', '-h', '127.0.0.1', '-p', str(port)] + [str(a) for a in args],
                          capture_output=True, text=True, check=True, timeout=600).stdout.strip()


def load(port, n):
    cli(port, 'FLUSHALL')
    for prefix in ('cache', 'other'):
        out = cli(port, 'DEBUG', 'POPULATE', n, prefix, 32)
        if out != 'OK':
            raise RuntimeError('DEBUG POPULATE failed: %s' % out)
    size = int(cli(port, 'DBSIZE'))
    if size != 2 * n:
        raise RuntimeError('loaded %d keys, expected %d' % (size, 2 * n))


def run_keys_xargs(port, batch):
    keys = subprocess.Popen(['redis-cli', '-h', '127.0.0.1', '-p', str(port), 'KEYS', PATTERN], stdout=subprocess.PIPE)
    dels = subprocess.Popen(['xargs', '-n', str(batch), 'redis-cli', '-h', '127.0.0.1', '-p', str(port), 'DEL'],
                            stdin=keys.stdout, stdout=subprocess.DEVNULL)
    keys.stdout.close()
    if dels.wait(3600) != 0 or keys.wait(60) != 0:
        raise RuntimeError('KEYS | xargs DEL failed')
    return {}


def run_scan_xargs(port, batch):
    scan = subprocess.Popen(['redis-cli', '-h', '127.0.0.1', '-p', str(port), '--scan', '--pattern', PATTERN],
                            stdout=subprocess.PIPE)
    unlink = subprocess.Popen(['xargs', '-n', str(batch), 'redis-cli', '-h', '127.0.0.1', '-p', str(port), 'UNLINK'],
                              stdin=scan.stdout, stdout=subprocess.DEVNULL)
    scan.stdout.close()
    if unlink.wait(3600) != 0 or scan.wait(60) != 0:
        raise RuntimeError('--scan | xargs UNLINK failed')
    return {}


def run_cache_flush(port, batch, pure=False):
    argv = [sys.executable, os.path.abspath(__file__), '--flush', str(port), str(batch)] + (['--pure'] if pure else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    if r.returncode != 0:
        raise RuntimeError('cache_flush failed: %s' % r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _higher_priority():
    """redis-server and the pinger run 5 nice levels above the methods and, with 2 CPUs or more, on
    CPU 0 while the methods run on the others: a slow PING then means Redis was busy, not that the
    pinger waited for a CPU the method's processes were using (as when the client is another host)."""
    try:
        os.nice(-5)
    except OSError:
        pass
    if (os.cpu_count() or 1) >= 2 and hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {0})


def _method_cpus():
    if (os.cpu_count() or 1) >= 2 and hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, set(range(1, os.cpu_count())))


def measure(port, n, name, func):
    load(port, n)
    ping = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--pinger', str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=_higher_priority)  # pylint: disable=subprocess-popen-preexec-fn
    time.sleep(0.3)  # let the pinger settle
    cli(port, 'LATENCY', 'RESET')
    start = time.perf_counter()
    extra = func()
    seconds = time.perf_counter() - start
    time.sleep(0.05)
    out, dummy = ping.communicate('', timeout=60)
    stats = json.loads(out.strip().splitlines()[-1])
    # server side: the longest single command, from Redis's latency monitor (threshold 1 ms)
    latest = cli(port, 'LATENCY', 'LATEST').split()
    longest = max([int(latest[i + 3]) for i in range(0, len(latest) - 3, 4) if latest[i] == 'command'] or [0])
    left = int(cli(port, 'DBSIZE'))
    remaining = len([k for k in cli(port, '--scan', '--pattern', PATTERN).splitlines() if k])
    if left != n or remaining:
        raise RuntimeError('%s left %d keys (%d matching %s); expected %d others only' % (name, left, remaining, PATTERN, n))
    row = {'method': name, 'keys': n, 'seconds': seconds, 'keys_per_s': n / seconds, 'worst_ping_ms': stats['max_ms'],
           'p99_ping_ms': stats['p99_ms'], 'pings': stats['pings'], 'longest_command_ms': longest}
    row.update(extra or {})
    print('  %-40s %7.2f s %9.0f keys/s  worst PING %7.2f ms (p99 %5.2f, %5d pings)  longest command %s ms'
          % (name, seconds, row['keys_per_s'], stats['max_ms'], stats['p99_ms'], stats['pings'],
             longest if longest else '< 1'), flush=True)
    return row


def main():
    n = int(os.environ.get('BENCH_KEYS', '200000'))
    batch = int(os.environ.get('BENCH_BATCH', '1000'))
    for tool in ('redis-server', 'redis-cli', 'xargs'):
        if not shutil.which(tool):
            sys.exit('bench/cache_flush needs %s on PATH (apt: redis-server redis-tools findutils)' % tool)
    try:
        import hiredis  # noqa: F401  pylint: disable=unused-import
        have_hiredis = True
    except ImportError:
        have_hiredis = False
    # Outrank whatever else runs on the machine (children inherit it): the worst PING should measure
    # Redis being blocked, not the scheduler. Needs root or CAP_SYS_NICE; skipped otherwise.
    try:
        os.nice(int(os.environ.get('BENCH_NICE', '-10')))
    except OSError:
        pass
    tmp = tempfile.mkdtemp(prefix='rbo-bench-redis-')
    port = free_port()
    server = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                               '--appendonly', 'no', '--dir', tmp, '--daemonize', 'no', '--protected-mode', 'no',
                               '--enable-debug-command', 'local', '--latency-monitor-threshold', '1'],
                              stdout=open(os.path.join(tmp, 'redis.log'), 'wb'), stderr=subprocess.STDOUT,
                              preexec_fn=_higher_priority)  # pylint: disable=subprocess-popen-preexec-fn
    rows = []
    _method_cpus()  # after redis-server started: it keeps CPU 0, this process and the methods get the rest
    try:
        wait_port(port, server)
        print('bench/cache_flush: %d cache:* + %d other:* keys, batches of %d, redis %s, %d CPUs, load %.1f, nice %d'
              % (n, n, batch, cli(port, 'INFO', 'server').split('redis_version:')[1].split()[0],
                 os.cpu_count() or 0, os.getloadavg()[0], os.nice(0)), flush=True)
        rows.append(measure(port, n, "KEYS | xargs -n %d DEL (seeds' way)" % batch,
                            lambda: run_keys_xargs(port, batch)))
        rows.append(measure(port, n, '--scan | xargs -n %d UNLINK' % batch, lambda: run_scan_xargs(port, batch)))
        rows.append(measure(port, n, 'cache_flush (%s)' % ('hiredis parser' if have_hiredis else 'pure-Python parser'),
                            lambda: run_cache_flush(port, batch)))
        if have_hiredis:
            rows.append(measure(port, n, 'cache_flush (pure-Python parser)', lambda: run_cache_flush(port, batch, True)))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    keys_way, scan_way = rows[0], rows[1]
    print('\nagainst the targets (>= KEYS way keys/s, worst PING <= 15 ms, >= 2.5x the --scan | xargs way):')
    verdicts = []
    for row in rows[2:]:
        vs_keys = row['keys_per_s'] / keys_way['keys_per_s']
        vs_scan = row['keys_per_s'] / scan_way['keys_per_s']
        ok = vs_keys >= 1.0 and row['worst_ping_ms'] <= 15.0 and vs_scan >= 2.5
        verdicts.append(ok)
        row.update(vs_keys=vs_keys, vs_scan=vs_scan, meets_targets=ok)
        print('  %-34s %5.2fx the KEYS way [%s], worst PING %.2f ms [%s] (KEYS way: %.2f ms), %5.2fx --scan|xargs [%s]'
              % (row['method'], vs_keys, 'ok' if vs_keys >= 1.0 else 'MISS', row['worst_ping_ms'],
                 'ok' if row['worst_ping_ms'] <= 15.0 else 'MISS', keys_way['worst_ping_ms'], vs_scan,
                 'ok' if vs_scan >= 2.5 else 'MISS'))
    if os.environ.get('BENCH_JSON'):
        with open(os.environ['BENCH_JSON'], 'w') as f:
            json.dump({'keys': n, 'batch': batch, 'rows': rows}, f, indent=2)
    return 0


if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '--pinger':
        pinger(int(sys.argv[2]))
    elif len(sys.argv) > 3 and sys.argv[1] == '--flush':
        flush_child(int(sys.argv[2]), int(sys.argv[3]), '--pure' in sys.argv)
    else:
        sys.exit(main())
