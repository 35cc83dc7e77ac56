#!/usr/bin/env bash
# The main job: a disaster-recovery failover on the local podman lab, end to end, saying what it does.
#   make lab-dr
# 1 fresh lab (app1 + nginx, db1 with data, cache1, S3, and the DR site dr-db1 + dr-app1)
# 2 the demo app deployed on app1 by runbook.ops.deploy (lab/deploy.yml)
# 3 what the app serves before the disaster   4 backup of the primary to S3
# 5 the disaster: the primary database container is destroyed
# 6 runbook.ops.dr_failover onto the DR site (restore, uploads, config, app, traffic switch, verify)
# 7 the front door serves the same data from the DR site   8 RTO/RPO table and report paths
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
REPORTS=${RUNBOOK_REPORT_DIR:-$REPO/reports}
export RUNBOOK_REPORT_DIR=$REPORTS
LAB=(-i inventories/lab)
step() { printf '\n\033[1m==> [%s] %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*"; }
serves() {  # what the demo app answers on /data, asked from inside app1 (the lab's front door)
  podman exec runbook-lab-app1 /opt/runbook/venv/bin/python -c \
    'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1/data", timeout=10).read().decode())'
}

step "1/8 A fresh lab: removing any previous one (an earlier run destroyed its primary), then starting"
echo "    app1 (demo app behind nginx, the front door), db1 (PostgreSQL with the app's data), cache1 (Redis),"
echo "    s3 (moto S3 endpoint with the uploads), and the DR site: dr-db1 (empty PostgreSQL), dr-app1 (app on standby)"
ansible-playbook lab/down.yml > /dev/null
ansible-playbook lab/up.yml

step "2/8 Deploy the demo app: runbook.ops.deploy on app1 (lock, fetch, switch, restart, health gate), the same release staged on dr-app1"
ansible-playbook "${LAB[@]}" lab/deploy.yml
echo "    app1 runs $(podman exec runbook-lab-app1 readlink /srv/demo-app/current); dr-app1 holds" \
  "$(podman exec runbook-lab-dr-app1 readlink /srv/demo-app/current) (stopped, started on failover)"

step "3/8 What the app serves before the disaster (through app1's nginx)"
before=$(serves)
echo "    $before"

step "4/8 Backup of the primary database (with its roles) to S3: runbook.ops.backup"
ansible-playbook "${LAB[@]}" runbook.ops.backup

step "5/8 The disaster: destroying the primary database container runbook-lab-db1"
podman rm --force --time 0 runbook-lab-db1 > /dev/null
echo "    db1 is gone; the app on app1 now answers: $(serves 2>&1 | tail -1 || true)"

step "6/8 Failover onto the DR site: runbook.ops.dr_failover -e dr_confirm=lab-dr"
ansible-playbook "${LAB[@]}" runbook.ops.dr_failover -e dr_confirm=lab-dr

step "7/8 The front door (app1's nginx) serves the same data, now from dr-app1 and dr-db1"
after=$(serves)
echo "    before: $before"
echo "    after:  $after"
python3 - "$before" "$after" <<'PY'
import json, sys
before, after = (json.loads(a) for a in sys.argv[1:3])
keys = ('items', 'max_id', 'checksum', 'uploads', 'version')
diff = [k for k in keys if before.get(k) != after.get(k)]
if diff:
    sys.exit('    DIFFERENT after the failover: %s' % ', '.join(diff))
print('    same items (%d), same checksum, same %d uploads, same release (%s)' % (
    after['items'], len(after['uploads']), after['version']))
PY

step "8/8 RTO / RPO against the objectives"
cat "$REPORTS/dr-failover.md"
echo
echo "    reports: $REPORTS/dr-failover.html (timeline), .json, .xml (JUnit), .md"
echo "    the lab stays up for a look around (podman exec -it runbook-lab-dr-app1 bash); make lab-down removes it"
