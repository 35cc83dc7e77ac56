#!/usr/bin/env bash
# The main job: a disaster-recovery failover on the local podman lab, end to end, saying what it does.
#   make lab-dr                      the DR database by point-in-time recovery (pgBackRest WAL archive in S3)
#   LAB_DR_METHOD=dump make lab-dr   the DR database from the latest dump instead
# 1 fresh lab (app1 + nginx, db1 with data, cache1, S3 with its TLS front, and the DR site dr-db1 + dr-app1)
# 2 the demo app deployed on app1 by runbook.ops.deploy (lab/deploy.yml)
# 3 what the app serves before the disaster   4 backup (dump) of the primary to S3
# 5 continuous archiving of db1 by runbook.ops.pitr_setup (pitr only)   6 the app keeps writing after the dump
# 7 the disaster: the primary database container is destroyed
# 8 runbook.ops.dr_failover onto the DR site (restore or PITR, uploads, config, app, traffic switch, verify)
# 9 the front door serves the data from the DR site   10 RTO/RPO table and report paths
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
REPORTS=${RUNBOOK_REPORT_DIR:-$REPO/reports}
export RUNBOOK_REPORT_DIR=$REPORTS
LAB=(-i inventories/lab)
export LAB_DR_METHOD=${LAB_DR_METHOD:-pitr}
case "$LAB_DR_METHOD" in pitr|dump) ;; *) echo "LAB_DR_METHOD must be pitr or dump, not $LAB_DR_METHOD" >&2; exit 2;; esac
step() { printf '\n\033[1m==> [%s] %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*"; }
psql_db1() {  # one SQL statement on db1's application database, as postgres (prints the value)
  podman exec runbook-lab-db1 runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d appdb -c "$1"
}
serves() {  # what the demo app answers on /data, asked from inside app1 (the lab's front door)
  podman exec runbook-lab-app1 /opt/runbook/venv/bin/python -c \
    'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1/data", timeout=10).read().decode())'
}

step "1/10 A fresh lab: removing any previous one (an earlier run destroyed its primary), then starting"
echo "    app1 (demo app behind nginx, the front door), db1 (PostgreSQL with the app's data), cache1 (Redis),"
echo "    s3 (moto S3 endpoint with the uploads, HTTPS on 443 for pgBackRest), and the DR site: dr-db1 (empty PostgreSQL), dr-app1 (app on standby)"
ansible-playbook lab/down.yml > /dev/null
ansible-playbook lab/up.yml

step "2/10 Deploy the demo app: runbook.ops.deploy on app1 (lock, fetch, switch, restart, health gate), the same release staged on dr-app1"
ansible-playbook "${LAB[@]}" lab/deploy.yml
echo "    app1 runs $(podman exec runbook-lab-app1 readlink /srv/demo-app/current); dr-app1 holds" \
  "$(podman exec runbook-lab-dr-app1 readlink /srv/demo-app/current) (stopped, started on failover)"

step "3/10 What the app serves before the disaster (through app1's nginx)"
before=$(serves)
echo "    $before"

step "4/10 Backup (dump) of the primary database (with its roles) to S3: runbook.ops.backup"
ansible-playbook "${LAB[@]}" runbook.ops.backup
at_dump=$(serves)

if [ "$LAB_DR_METHOD" = pitr ]; then
  step "5/10 Continuous archiving of db1: runbook.ops.pitr_setup (pgBackRest to S3 over HTTPS, a first full backup)"
  ansible-playbook "${LAB[@]}" runbook.ops.pitr_setup
else
  step "5/10 (LAB_DR_METHOD=dump: no WAL archive; the DR site restores the dump of step 4)"
fi

step "6/10 The app keeps writing after the dump: 25 new items on db1"
psql_db1 "INSERT INTO items (name) SELECT 'written after the dump ' || g FROM generate_series(1, 25) AS g" > /dev/null
if [ "$LAB_DR_METHOD" = pitr ]; then
  wal=$(psql_db1 "SELECT pg_walfile_name(pg_current_wal_lsn())")
  echo "    their WAL segment $wal reaches the archive on its own (archive_timeout 10 s): waiting for it"
  waited=0
  until [ "$(psql_db1 "SELECT coalesce(last_archived_wal, '') >= '$wal' FROM pg_stat_archiver")" = t ]; do
    [ "$waited" -lt 120 ] || { echo "    the archive did not reach $wal within 120 s" >&2; exit 1; }
    sleep 1; waited=$((waited + 1))
  done
  echo "    archived after ~${waited} s: $(psql_db1 "SELECT last_archived_wal || ' at ' || last_archived_time FROM pg_stat_archiver")"
fi
before=$(serves)
echo "    $before"

step "7/10 The disaster: destroying the primary database container runbook-lab-db1"
podman rm --force --time 0 runbook-lab-db1 > /dev/null
echo "    db1 is gone; the app on app1 now answers: $(serves 2>&1 | tail -1 || true)"

step "8/10 Failover onto the DR site ($LAB_DR_METHOD): runbook.ops.dr_failover -e dr_confirm=lab-dr"
ansible-playbook "${LAB[@]}" runbook.ops.dr_failover -e dr_confirm=lab-dr

step "9/10 The front door (app1's nginx) serves the data, now from dr-app1 and dr-db1"
after=$(serves)
echo "    before the disaster: $before"
echo "    at the dump:         $at_dump"
echo "    after the failover:  $after"
python3 - "$LAB_DR_METHOD" "$before" "$at_dump" "$after" <<'PY'
import json, sys
method = sys.argv[1]
before, at_dump, after = (json.loads(a) for a in sys.argv[2:5])
# PITR brings back what was archived before the disaster; a dump brings back what it held
expected = before if method == 'pitr' else at_dump
keys = ('items', 'max_id', 'checksum', 'uploads', 'version')
diff = [k for k in keys if expected.get(k) != after.get(k)]
if diff:
    sys.exit('    DIFFERENT after the failover (%s): %s' % (method, ', '.join(diff)))
print('    same items as %s (%d), same checksum, same %d uploads, same release (%s)' % (
    'before the disaster' if method == 'pitr' else 'in the dump', after['items'], len(after['uploads']),
    after['version']))
if method == 'dump':
    print('    lost: the %d items written after the dump (the dump RPO)' % (before['items'] - after['items']))
PY

step "10/10 RTO / RPO against the objectives"
cat "$REPORTS/dr-failover.md"
python3 - "$REPORTS/dr-failover.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
meta = report.get('meta') or {}
for c in report.get('components') or []:
    print('    %-11s RTO %7.1f s   RPO %7.1f s (source: %s)' % (
        c['name'], c['rto_s'] or 0, c['rpo_s'] or 0, c.get('rpo_source', meta.get('rpo_source'))))
if meta.get('dump_rpo_s') is not None:
    print('    beside it, the newest dump (%s) was %.1f s old at the failure: the RPO a dump restore would have had'
          % (meta.get('dump_backup_id'), meta['dump_rpo_s']))
PY
echo
echo "    reports: $REPORTS/dr-failover.html (timeline), .json, .xml (JUnit), .md"
echo "    the lab stays up for a look around (podman exec -it runbook-lab-dr-app1 bash); make lab-down removes it"
