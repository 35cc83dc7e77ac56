# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pitr role's restore entry point through playbooks/pitr_restore.yml, against the real PITR test bed.

A rehearsal: recover to T into a new directory, verify (the dropped table is back), report, tear down; the live
cluster is untouched. (The setup entry point needs systemd and a Debian cluster: the Molecule scenario `pitr`.)
"""
from __future__ import annotations

import os
import shutil
import tempfile

from playbooks import run_playbook
from servers import free_port
from test_pitr_restore import _lose_a_table


def test_rehearsal_recovers_verifies_and_tears_down(pitr_cluster, tmp_path):
    c = pitr_cluster
    target, _digest = _lose_a_table(c)
    base = tempfile.mkdtemp(prefix='rbo-pitr-role-')
    os.chmod(base, 0o755)
    data_dir = os.path.join(base, 'restored')
    try:
        extra = {'pitr_stanza': c.stanza, 'pitr_config_file': c.config, 'pitr_restore_data_dir': data_dir,
                 'pitr_restore_target_type': 'time', 'pitr_restore_target': target,
                 'pitr_restore_port': free_port(), 'pitr_restore_mode': 'rehearsal',
                 'pitr_restore_verify_queries': [{'sql': 'SELECT count(*) FROM orders', 'expect': '1200'}]}
        hosts = {'localhost': {'ansible_become_method': 'su'}}
        r = run_playbook('pitr_restore', extra, tmp_path, hosts=hosts)
        assert r.returncode == 0, r.stdout[-4000:]
        assert '"rpo_s"' in r.stdout and '"last_replayed"' in r.stdout
        assert not os.path.exists(data_dir)                          # the rehearsal was torn down
        assert c.server.psql("SELECT to_regclass('orders') IS NULL") == 't'   # live cluster untouched
        assert c.seaweed.secret_key not in r.stdout

        bad = run_playbook('pitr_restore', dict(extra, pitr_restore_verify_queries=[
            {'sql': 'SELECT count(*) FROM orders', 'expect': '999'}]), tmp_path, hosts=hosts)
        assert bad.returncode != 0 and 'Could not verify the recovered cluster' in bad.stdout
        assert os.path.isdir(data_dir)                               # left aside for inspection, stopped
        assert not os.path.exists(os.path.join(data_dir, 'postmaster.pid'))
    finally:
        shutil.rmtree(base, ignore_errors=True)
