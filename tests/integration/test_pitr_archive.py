# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PITR test bed itself: PostgreSQL archives through pgBackRest over TLS into SeaweedFS (checked with boto3)."""


def test_archive_and_full_backup_reach_seaweedfs(pitr_cluster):
    pitr_cluster.pgbackrest('backup', '--type=full')
    seg = pitr_cluster.switch_wal()
    assert seg in pitr_cluster.wal_objects()
    info = pitr_cluster.info()
    assert info[0]['status']['code'] == 0
    assert [b['type'] for b in info[0]['backup']] == ['full']
    assert info[0]['archive'][0]['max'] >= seg
