# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``backup_age`` check type of health_check: the age of the newest valid backup in a store (S3 or a
directory), read by ``backup_store.backup_age`` (the manifest rules live there)."""

from __future__ import annotations

import math

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs_utils
from ansible_collections.runbook.ops.plugins.module_utils import probe
from ansible_collections.runbook.ops.plugins.module_utils import redaction

# The backup store options a backup_age probe takes (see backup_store.store_argument_spec()).
BACKUP_STORE_OPTIONS = ('store', 's3_endpoint_url', 'aws_region', 'aws_access_key', 'aws_secret_key')


# the S3 client of a backup_age probe: at most these timeouts (less when the probe's timeout is shorter), one attempt
S3_CONNECT_TIMEOUT = 10
S3_READ_TIMEOUT = 60


def run(check):
    """Age of the newest valid backup in a store (see backup_store.backup_age())."""
    params = _store_params(check)
    database = check.get('source_db')
    try:
        found = bs_utils.backup_age(params, database=database)
    except bs_utils.StoreError as exc:
        raise probe.ProbeError('Could not read the backup store %s: %s' % (
            _store_label(params), probe.one_line(probe.redact(exc, check))))
    age_s = found.get('age_s')
    result = probe.ProbeResult({
        'found': bool(found.get('found')),
        'backup_id': found.get('id'),
        'created_at': found.get('created_at'),
        'age_s': None if age_s is None else round(float(age_s), 3),
        'age_h': None if age_s is None else round(float(age_s) / 3600.0, 3),
        'valid_count': found.get('valid_count'),
        'invalid_count': found.get('invalid_count'),
        'store': found.get('store'),
    })
    if not found.get('found'):
        what = 'no valid backup%s in %s' % (' of database %r' % database if database is not None else '',
                                            found.get('store'))
        if found.get('invalid_count'):
            what += ' (%d invalid or unfinished)' % found['invalid_count']
        result.add(probe.CRITICAL, what)
    return result


def _store_params(check):
    """The store options of a backup_age check, with an S3 client bounded by the probe's timeout:
    connect and read timeouts at most the probe's timeout, and no retries."""
    params = {k: check.get(k) for k in BACKUP_STORE_OPTIONS}
    timeout = check.get('timeout', probe.DEFAULT_TIMEOUT)
    params.update(s3_connect_timeout=max(1, int(math.ceil(min(timeout, S3_CONNECT_TIMEOUT)))),
                  s3_read_timeout=max(1, int(math.ceil(min(timeout, S3_READ_TIMEOUT)))),
                  s3_max_attempts=1)
    return params


def _store_label(params):
    """The store URL for messages (the endpoint without a userinfo password)."""
    label = str(params.get('store') or '').strip()
    if params.get('s3_endpoint_url') and label.startswith('s3://'):
        label += ' (endpoint %s)' % redaction.safe_url(params['s3_endpoint_url'])
    return label


def requirement(checks):
    if any(bs_utils.missing_boto3(c.get('store', '')) for c in checks):
        return 'boto3', bs_utils.BOTO3_IMP_ERR
    return None


_STORE_SPEC = bs_utils.store_argument_spec()

PROBE_TYPE = probe.ProbeType(
    name='backup_age', run=run,
    # seed 004's daily check: a daily backup should be at most a day old (plus slack);
    # two missed nights are critical.
    metrics={
        'age_h': (probe.HIGHER, probe.levels(26, 50)),
        'age_s': (probe.HIGHER, None),
    },
    # age_h and age_s measure the same thing: thresholds may name only one of them
    alternatives=('age_h', 'age_s'),
    options=BACKUP_STORE_OPTIONS + ('source_db',),
    suboptions=dict([(key, _STORE_SPEC[key]) for key in BACKUP_STORE_OPTIONS], source_db=dict(type='str')),
    required=('store',),
    required_together=[('aws_access_key', 'aws_secret_key')],
    requirement=requirement,
)
