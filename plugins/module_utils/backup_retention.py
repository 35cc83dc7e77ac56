# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention of the backups in a backup store, one owner for every engine (``pg_backup``, ``mysql_backup``).

The rules (``daily``, ``weekly``, ``monthly``, ``yearly``: GFS buckets; ``keep_last``; ``max_age_days``):

- 0 turns a rule off, like an absent (None) rule; no rule at all keeps every backup; a policy that names rules but
  turns every one off is refused (:func:`check_retention`), so ``keep_last: 0`` never means "keep only the newest";
- a backup is kept when any rule keeps it; the newest valid backup is always kept, and so is the backup just made;
- invalid backups (no manifest, wrong size, another engine's) are left alone;
- retention runs only once the store lists the fresh backup as valid (:func:`retain`), never after a failure;
- a deleted backup loses its manifest first, so it is invalid at once (:func:`apply_retention`).

Errors are :class:`RetentionError`, with a message ready for ``fail_json``; each engine raises it again as its own
``BackupError`` with the same text.
"""

from __future__ import annotations

import datetime
import json

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs

RETENTION_RULES = ('daily', 'weekly', 'monthly', 'yearly', 'keep_last', 'max_age_days')
GFS_BUCKETS = (('daily', lambda d: d.strftime('%Y-%m-%d')),
               ('weekly', lambda d: '%04d-W%02d' % d.isocalendar()[:2]),    # ISO year and week
               ('monthly', lambda d: d.strftime('%Y-%m')),                   # year and month
               ('yearly', lambda d: d.strftime('%Y')))


class RetentionError(Exception):
    """A policy to refuse, or a backup retention must not follow; the message is ready for fail_json."""


def _dt(entry):
    return bs.parse_time(entry['created_at'])


def check_retention(policy):
    """The rules of ``policy`` that are on, as a dict; raises :class:`RetentionError` for a policy to refuse.

    One meaning of 0 for every rule: 0 turns the rule off, like an absent (None) rule.  No rule at all (``{}``
    or None) keeps every backup.  A policy that names rules but turns all of them off is refused, so that
    ``keep_last: 0`` never means "keep only the newest".  Negative values are refused.
    """
    policy = dict((k, v) for k, v in (policy or {}).items() if v is not None)
    unknown = sorted(k for k in policy if k not in RETENTION_RULES)
    if unknown:
        raise RetentionError('Could not apply retention: unknown rule %s. The rules are %s.'
                             % (', '.join(unknown), ', '.join(RETENTION_RULES)))
    for k in RETENTION_RULES:
        v = policy.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise RetentionError('Could not apply retention: %s must be a whole number, got %r.' % (k, v))
        if v is not None and v < 0:
            raise RetentionError('Could not apply retention: %s must not be negative (got %d). Give the positive '
                                 'number of backups (or days) to keep, or leave the rule out.' % (k, v))
    on = dict((k, v) for k, v in policy.items() if v > 0)
    if policy and not on:
        raise RetentionError('Could not apply retention: every rule given is 0 (%s), and 0 turns a rule off, so no '
                             'rule says which backups to keep. Set at least one rule to a positive number, or leave '
                             'retention out to keep every backup.'
                             % ', '.join('%s: 0' % k for k in RETENTION_RULES if k in policy))
    return on


def plan_retention(entries, policy, now=None, protect=()):
    """Decide keep/delete for the backups of one database.

    ``entries``: catalogue entries (``backup_store.list_backups``), ``policy``: dict with any of ``daily``,
    ``weekly``, ``monthly``, ``yearly`` (GFS: the newest backup of each of the N most recent days / ISO weeks /
    year-months / years that have backups), ``keep_last`` (N newest), ``max_age_days`` (younger than N days); 0 or
    None turns a rule off, and a policy with every rule off is refused (:func:`check_retention`, raises
    :class:`RetentionError`).  A backup is kept when any rule keeps it; the newest valid backup is always kept;
    ``protect`` (the backup just made) is kept; invalid backups are left alone (``ignore``); no rule at all keeps
    everything.  Returns a list of ``{id, created_at, action, reasons}`` newest first.
    """
    now = now or bs.utcnow()
    policy = check_retention(policy)
    valid = sorted([e for e in entries if e['valid']], key=lambda e: (_dt(e), e['id']), reverse=True)
    reasons = dict((e['id'], []) for e in valid)
    if valid:
        reasons[valid[0]['id']].append('newest valid backup')
    for e in valid:
        if e['id'] in protect and e['id'] != valid[0]['id']:
            reasons[e['id']].append('the backup just made')
    if not policy:
        for e in valid:
            reasons[e['id']].append('no retention rule')
    if policy.get('keep_last'):
        for i, e in enumerate(valid[:policy['keep_last']]):
            reasons[e['id']].append('keep_last %d (#%d)' % (policy['keep_last'], i + 1))
    if policy.get('max_age_days'):
        limit = now - datetime.timedelta(days=policy['max_age_days'])
        for e in valid:
            if _dt(e) >= limit:
                reasons[e['id']].append('younger than %d days' % policy['max_age_days'])
    for rule, bucket_of in GFS_BUCKETS:
        count = policy.get(rule)
        if not count:
            continue
        seen = []
        for e in valid:
            b = bucket_of(_dt(e))
            if b in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(b)
            reasons[e['id']].append('%s %s' % (rule, b))
    plan = []
    for e in sorted(entries, key=bs.entry_order, reverse=True):
        if not e['valid']:
            plan.append({'id': e['id'], 'created_at': e['created_at'], 'action': 'ignore',
                         'reasons': ['invalid (%s): retention leaves it alone' % e['reason']]})
        elif reasons[e['id']]:
            plan.append({'id': e['id'], 'created_at': e['created_at'], 'action': 'keep', 'reasons': reasons[e['id']]})
        else:
            plan.append({'id': e['id'], 'created_at': e['created_at'], 'action': 'delete',
                         'reasons': ['kept by no rule of %s' % json.dumps(policy, sort_keys=True)]})
    return plan


def apply_retention(store, plan):
    """Delete the backups marked ``delete``: the manifest first (the backup is invalid at once), then the rest."""
    objects = store.list_objects()
    pruned = []
    for item in plan:
        if item['action'] != 'delete':
            continue
        keys = [k for k in objects if k.startswith(item['id'] + '/')]
        manifest = bs.backup_key(item['id'], bs.MANIFEST_NAME)
        store.delete([k for k in keys if k == manifest])
        store.delete([k for k in keys if k != manifest])
        pruned.append(item['id'])
    return pruned


def retain(store, db, backup_id, policy, now=None, engine='postgresql'):
    """Retention after the backup ``backup_id`` of ``db`` was committed: (plan, pruned ids).

    ``engine``: the engine whose backups the catalogue lists as valid (``backup_store.list_backups``), so the
    backups of another engine in the same store are left alone.  Runs only when the store lists ``backup_id`` as
    valid; otherwise raises :class:`RetentionError` and deletes nothing.  Without a rule (``{}``) the plan keeps
    everything and nothing is deleted.  Raises :class:`backup_store.StoreError` when the store fails.
    """
    entries = bs.list_backups(store, database=db, now=now, engine=engine)
    mine = [e for e in entries if e['id'] == backup_id]
    if not mine or not mine[0]['valid']:
        raise RetentionError('Backed up database %s as %s, but the store does not list it as valid (%s); '
                             'retention did not run. Check the store.' % (
                                 json.dumps(db), backup_id, mine[0]['reason'] if mine else 'not listed'))
    plan = plan_retention(entries, policy, now=now, protect=(backup_id,))
    pruned = apply_retention(store, plan) if check_retention(policy) else []
    return plan, pruned
