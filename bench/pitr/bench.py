# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helper of bench/pitr/run.sh (see there). Reuses the PITR test bed of tests/integration/pitr_fixtures.py."""
from __future__ import annotations

import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, 'tests'))
sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))

import pitr_fixtures as pf  # noqa: E402
from servers import free_port  # noqa: E402

SCALE = int(os.environ.get('PITR_BENCH_SCALE', '70'))
WORK_S = max(70, int(os.environ.get('PITR_BENCH_WORK_S', '90')))
ROUNDS = max(1, int(os.environ.get('PITR_BENCH_ROUNDS', '3')))
# both sides restore with the same pgBackRest parallelism (the module's default), so the ratio is the module's own
# cost: the reach check, the marker, the waits, the verification and Ansible's start-up
PROCESS_MAX = max(1, min(4, os.cpu_count() or 1))
VERIFY = 'SELECT count(*) FROM pgbench_history'
RESULTS = os.path.join(REPO, 'bench', 'results')


def as_pg(argv):
    return ['runuser', '-u', 'postgres', '--'] + argv if os.geteuid() == 0 else argv


def load():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(label, fn, cpu=None):
    t, c = time.monotonic(), cpu_children()
    out = fn()
    s = time.monotonic() - t
    used = cpu_children() - c
    if cpu is not None:
        cpu.append(used)
    print('  %-52s %8.1f s  (CPU of the processes it waited for %.1f s)' % (label, s, used), flush=True)
    return s, out


def utc(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)


def module(args):
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
            '-m', 'runbook.ops.pitr_restore', '-a', json.dumps(args)]
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    r = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=REPO)
    res = json.loads(r.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    if res.get('failed'):
        raise SystemExit('pitr_restore failed: %s' % res.get('msg'))
    return res


def raw_restore(c, target, data_dir, port):
    """By hand: pgbackrest restore, start PostgreSQL, wait for the promotion, the same verification, stop."""
    bindir = pf.pg_bindir()
    c.pgbackrest('--pg1-path=' + data_dir, '--process-max=%d' % PROCESS_MAX, '--type=time', '--target=' + target,
                 '--target-action=promote', 'restore')
    sock = tempfile.mkdtemp(prefix='rbo-bench-sock-')
    shutil.chown(sock, 'postgres', 'postgres')
    with open(os.path.join(sock, 'hba'), 'w') as f:
        f.write('local all postgres peer\n')
    log = open(data_dir + '.log', 'wb')
    proc = subprocess.Popen(as_pg([os.path.join(bindir, 'postgres'), '-D', data_dir, '-c', 'port=%d' % port,
                                   '-c', 'listen_addresses=', '-c', 'unix_socket_directories=' + sock,
                                   '-c', 'hba_file=' + os.path.join(sock, 'hba'), '-c', 'archive_mode=off']),
                            stdout=log, stderr=subprocess.STDOUT, cwd='/')
    while True:
        if proc.poll() is not None:
            raise SystemExit('raw recovery failed, see %s.log' % data_dir)
        try:
            if pf.psql_port(port, 'SELECT pg_is_in_recovery()', sockdir=sock) == 'f':
                break
        except RuntimeError:
            pass
        time.sleep(0.5)
    count = pf.psql_port(port, VERIFY, sockdir=sock)
    subprocess.run(as_pg([os.path.join(bindir, 'pg_ctl'), 'stop', '-D', data_dir, '-m', 'fast', '-w']),
                   capture_output=True, check=False)
    shutil.rmtree(sock, ignore_errors=True)
    return count


def main():
    print('bench/pitr: pgbench scale %d, %d s of workload after the full backup, %d round(s), process-max %d, '
          'load average %s on %d CPUs' % (SCALE, WORK_S, ROUNDS, PROCESS_MAX, load(), os.cpu_count() or 1), flush=True)
    sw = pf.SeaweedFS().start()
    cabase = tempfile.mkdtemp(prefix='rbo-bench-ca-')
    os.chmod(cabase, 0o755)
    ca = pf.TlsCA(cabase).make()
    front = pf.TlsFront(ca, sw.ports['s3']).start()
    c = pf.PitrCluster(sw, front, ca)
    base = tempfile.mkdtemp(prefix='rbo-bench-pitr-')
    os.chmod(base, 0o755)
    try:
        c.start()
        pg = c.server
        env = dict(os.environ, PGPASSWORD=pg.password)
        conn = ['-h', '127.0.0.1', '-p', str(pg.port), '-U', 'postgres', 'postgres']
        timed('pgbench -i -s %d' % SCALE, lambda: subprocess.run(['pgbench', '-i', '-q', '-s', str(SCALE)] + conn,
                                                                 env=env, check=True, capture_output=True))
        size = int(pg.psql('SELECT pg_database_size(current_database())'))
        print('  database size %.0f MiB' % (size / 1048576.0), flush=True)
        timed('pgbackrest full backup', lambda: c.pgbackrest('--type=full', 'backup'))
        backup_stop = c.info()[0]['backup'][-1]['timestamp']['stop']
        timed('pgbench workload', lambda: subprocess.run(
            ['pgbench', '-n', '-c', '2', '-T', str(WORK_S), '-R', '50'] + conn, env=env, check=True,
            capture_output=True))
        end = datetime.datetime.now(datetime.timezone.utc)
        c.switch_wal()
        target_dt = end - datetime.timedelta(seconds=60)
        target = target_dt.strftime('%Y-%m-%d %H:%M:%S.%f+00')

        # alternate the contenders (raw first) so neither always reads a cold repository; the best of each counts
        mods, raws, mod_cpu, raw_cpu = [], [], [], []
        for round_ in range(1, ROUNDS + 1):
            raw_dir = os.path.join(base, 'raw%d' % round_)
            os.makedirs(raw_dir, 0o700)
            shutil.chown(raw_dir, 'postgres', 'postgres')
            raw_s, raw_count = timed('raw: pgbackrest restore + recovery + same query', lambda: raw_restore(
                c, target, raw_dir, free_port()), raw_cpu)
            raws.append(raw_s)
            mod_dir = os.path.join(base, 'module%d' % round_)
            mod_s, res = timed('pitr_restore (check, restore, recover, verify, stop)', lambda: module(dict(
                c.repo, stanza=c.stanza, data_dir=mod_dir, target_type='time', target=target, port=free_port(),
                keep_running=False, process_max=PROCESS_MAX, verify_queries=[{'sql': VERIFY}])), mod_cpu)
            mods.append((mod_s, res))
            assert res['verifications'][0]['value'] == raw_count, (res['verifications'], raw_count)
        mod_s, res = min(mods, key=lambda m: m[0])
        raw_s = min(raws)
        dump_rpo = (target_dt - datetime.datetime.fromtimestamp(backup_stop, datetime.timezone.utc)).total_seconds()
        ratio = mod_s / raw_s
        print()
        print('  %-52s %8.2fx  (target <= 1.15)' % ('ratio pitr_restore / raw', ratio))
        print('  %-52s %8.1f s   (reach check %.1f s, %d segment(s) read; restore %.1f s; recovered at %.1f s; '
              'verified at %.1f s)' % ('module wall time (best of %d)' % ROUNDS, mod_s, res['plan']['check_s'],
                                       res['plan']['segments_scanned'], res['restore_s'], res['recovery_s'],
                                       res['verify_s']))
        print('  %-52s %8.1f s   (Ansible start-up, pgbackrest info, the result, the final stop)'
              % ('  outside the module\'s timed phases', mod_s - res['plan']['check_s'] - res['verify_s']))
        print('  %-52s %8.1f s' % ('raw wall time (best of %d)' % ROUNDS, raw_s))
        print('  %-52s %8.2fx  (CPU seconds, median of the rounds: %.1f / %.1f; the recovered server is not counted)'
              % ('CPU ratio module / raw', sorted(m / r for m, r in zip(mod_cpu, raw_cpu))[len(raw_cpu) // 2],
                 sorted(mod_cpu)[len(mod_cpu) // 2], sorted(raw_cpu)[len(raw_cpu) // 2]))
        print('  %-52s %s / %s' % ('all rounds module / raw (s)', ' '.join('%.1f' % m[0] for m in mods),
                                   ' '.join('%.1f' % r for r in raws)))
        # on a shared, loaded machine one slow round moves the best-of ratio: show two steadier views as well
        paired = sorted(m[0] / r for m, r in zip(mods, raws))
        print('  %-52s %8.2fx  (median of the rounds; ratio of the sums %.2fx)'
              % ('ratio per round, module / raw of the same round', paired[len(paired) // 2],
                 sum(m[0] for m in mods) / sum(raws)))
        print('  %-52s %s' % ('load average at the end', load()))
        print('  %-52s %8.3f s' % ('RPO achieved by PITR (target - last replayed commit)', res['rpo_s']))
        print('  %-52s %8.1f s' % ('RPO of the dump taken at the full backup', dump_rpo))
        print('  %-52s %s rows in pgbench_history (both)' % ('verification', raw_count))
        os.makedirs(RESULTS, exist_ok=True)
        out = os.path.join(RESULTS, 'pitr-%s.json' % time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))
        with open(out, 'w') as f:
            json.dump({'scale': SCALE, 'db_bytes': size, 'module_s': mod_s, 'raw_s': raw_s, 'ratio': ratio,
                       'rounds': {'module_s': [m[0] for m in mods], 'raw_s': raws, 'module_cpu_s': mod_cpu,
                                  'raw_cpu_s': raw_cpu,
                                  'module_phases': [{k: m[1][k] if k != 'check_s' else m[1]['plan'][k]
                                                     for k in ('check_s', 'restore_s', 'recovery_s', 'verify_s')}
                                                    for m in mods]},
                       'process_max': PROCESS_MAX,
                       'load': load(),
                       'rpo_s': res['rpo_s'], 'dump_rpo_s': dump_rpo, 'target': target,
                       'last_replayed': res['last_replayed']}, f, indent=1)
        print('  results: %s' % out)
    finally:
        for d in os.listdir(base):
            pf.stop_recovered(os.path.join(base, d))
        c.stop()
        front.destroy()
        sw.destroy()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(cabase, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
