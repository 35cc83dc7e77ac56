"""bench/dr: RTO of runbook.ops.dr_rehearsal on the lab with a pgbench database, phase by phase,
side by side with the raw restore an operator would type (download, zstd -d, pg_restore -j 2)."""
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALE = int(os.environ.get('DR_BENCH_SCALE', '10'))
FRESH = os.environ.get('DR_BENCH_FRESH', '1') == '1'
PGPW = 'lab-postgres-pw'
RESULTS = os.path.join(REPO, 'bench', 'results')


def sh(argv, **kw):
    return subprocess.run(argv, check=True, cwd=REPO, text=True, capture_output=True, **kw).stdout


def podman_exec(container, script):
    return sh(['podman', 'exec', '-e', 'PGPASSWORD=' + PGPW, container, 'bash', '-ec', script])


def timed(label, fn):
    start = time.monotonic()
    out = fn()
    took = time.monotonic() - start
    print('  %-44s %8.1f s' % (label, took), flush=True)
    return took, out


def main():
    print('bench/dr: pgbench scale %d on the lab (DR_BENCH_SCALE=70 is ~1 GB)' % SCALE, flush=True)
    if FRESH:
        timed('lab down', lambda: sh(['ansible-playbook', 'lab/down.yml']))
        timed('lab up', lambda: sh(['ansible-playbook', 'lab/up.yml']))
    timed('pgbench -i on db1', lambda: podman_exec(
        'runbook-lab-db1', 'pgbench -q -h 127.0.0.1 -U postgres -i -s %d appdb >/dev/null 2>&1' % SCALE))
    size = int(podman_exec('runbook-lab-db1', "psql -h 127.0.0.1 -U postgres -AtX -d appdb "
                                              "-c \"SELECT pg_database_size('appdb')\"").strip())
    print('  database size: %.0f MB' % (size / 1e6))
    timed('runbook.ops.backup (to S3)', lambda: sh(['ansible-playbook', '-i', 'inventories/lab', 'runbook.ops.backup']))

    reports = tempfile.mkdtemp(prefix='bench-dr-')
    env = dict(os.environ, RUNBOOK_REPORT_DIR=reports)
    rehearsal_s, _out = timed('runbook.ops.dr_rehearsal (wall)', lambda: sh(
        ['ansible-playbook', '-i', 'inventories/lab', 'runbook.ops.dr_rehearsal'], env=env))
    with open(os.path.join(reports, 'dr-rehearsal.json')) as f:
        report = json.load(f)
    print('  rehearsal phases:')
    for p in report['phases']:
        print('    %-14s %-9s %7.1f s  %s' % (p['name'], p['status'], p['duration_s'], (p.get('detail') or '')[:70]))
    comps = {c['name']: c for c in report['components']}
    db_phase = next(p for p in report['phases'] if p['name'] == 'database')

    # The raw way, by hand on the DR database host: fetch the same backup's dump, decompress, restore.
    latest = backup_key()
    raw = ("rm -rf /tmp/raw && mkdir /tmp/raw && cd /tmp/raw && "
           "/opt/runbook/venv/bin/python -c 'import boto3,sys; boto3.client(\"s3\", endpoint_url=\"http://s3:5000\", "
           "region_name=\"us-east-1\", aws_access_key_id=\"lab\", aws_secret_access_key=\"lab\")"
           ".download_file(\"runbook-backups\", sys.argv[1], \"dump.zst\")' %s && "
           "zstd -q -d dump.zst -o dump && dropdb -h 127.0.0.1 -U postgres --if-exists rawcopy && "
           "createdb -h 127.0.0.1 -U postgres rawcopy && "
           "pg_restore -h 127.0.0.1 -U postgres -j 2 -d rawcopy dump && "
           "dropdb -h 127.0.0.1 -U postgres rawcopy && rm -rf /tmp/raw" % latest)
    raw_s, _out = timed('raw: download + zstd -d + pg_restore -j 2', lambda: podman_exec('runbook-lab-dr-db1', raw))

    print()
    print('  %-44s %8.1f s' % ('database phase (verified restore, swap)', db_phase['duration_s']))
    print('  %-44s %8.2fx' % ('ratio database phase / raw restore', db_phase['duration_s'] / raw_s))
    for label, comp in (('RTO database', 'database'), ('RTO application (healthy and verified)', 'application')):
        print('  %-44s %8.1f s  (objective %s s)' % (label, comps[comp]['rto_s'], comps[comp]['rto_objective_s']))
    print('  %-44s %8.1f s' % ('RPO (age of the restored backup)', comps['database']['rpo_s']))
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, 'dr-%s.json' % time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))
    with open(out, 'w') as f:
        json.dump({'scale': SCALE, 'db_bytes': size, 'rehearsal_wall_s': rehearsal_s, 'raw_restore_s': raw_s,
                   'phases': report['phases'], 'components': report['components']}, f, indent=1)
    print('  results: %s' % out)


def backup_key():
    """The dump object of the newest backup of db1 (what the rehearsal restored)."""
    script = ("/opt/runbook/venv/bin/python -c 'import boto3; s3 = boto3.client(\"s3\", endpoint_url=\"http://s3:5000\", "
              "region_name=\"us-east-1\", aws_access_key_id=\"lab\", aws_secret_access_key=\"lab\"); "
              "keys = [o[\"Key\"] for p in s3.get_paginator(\"list_objects_v2\").paginate(Bucket=\"runbook-backups\", "
              "Prefix=\"db1/\") for o in p.get(\"Contents\", [])]; "
              "print(sorted(k for k in keys if \".dump\" in k)[-1])'")
    return podman_exec('runbook-lab-dr-db1', script).strip()


if __name__ == '__main__':
    sys.exit(main())
