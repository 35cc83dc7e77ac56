# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the maintenance role tests: a bloated database, a log directory, a playbook runner.

Independent checks go through psql, redis-cli and the file system, never through the role.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
import time

from playbooks import run_playbook

DAY = 86400
DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']


def qi(name):
    return '"%s"' % name.replace('"', '""')


def unique_db(prefix='mnt'):
    return '%s_%s' % (prefix, secrets.token_hex(4))


def bloated_db(pg, name, rows=5000):
    """A database with a keyed table whose rows were updated twice (dead tuples), autovacuum off."""
    pg.psql('CREATE DATABASE %s' % qi(name))
    pg.psql('CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2), note text) '
            'WITH (autovacuum_enabled = false);'
            'INSERT INTO orders SELECT g, g / 3.0, md5(g::text) FROM generate_series(1, %d) g;'
            'CREATE INDEX orders_note_idx ON orders (note);'
            'UPDATE orders SET note = md5(note);'
            'UPDATE orders SET note = md5(note) WHERE id %% 2 = 0;'
            'CREATE TABLE customers (id int PRIMARY KEY, name text);'
            'INSERT INTO customers SELECT g, \'c\' || g FROM generate_series(1, 50) g;' % rows, db=name)
    # the statistics collector reports dead tuples asynchronously
    pg.psql('SELECT pg_stat_force_next_flush()', db=name, check=False)
    return name


def dead_tuples(pg, db, table='orders'):
    deadline = time.monotonic() + 5
    while True:
        n = int(pg.psql("SELECT coalesce(n_dead_tup, 0) FROM pg_stat_user_tables WHERE relname = '%s'" % table,
                        db=db) or 0)
        if n > 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


def drop_db(pg, name):
    pg.psql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % qi(name), check=False)


def make_logs(directory, now=None):
    """Old and new log files, an old symlink to an outside file, and an old file not matching the patterns.

    Returns {name: path}.
    """
    now = now or time.time()
    os.makedirs(directory, exist_ok=True)
    outside = os.path.join(os.path.dirname(directory), 'outside.log.1')
    with open(outside, 'w') as f:
        f.write('x' * 100)
    os.utime(outside, (now - 90 * DAY, now - 90 * DAY))
    files = {
        'old1': ('app.log.3.gz', 40 * DAY, 3000),
        'old2': ('app.log.2.gz', 35 * DAY, 2000),
        'mid': ('app.log.1', 10 * DAY, 1500),
        'new': ('app.log.0', 1 * DAY, 1000),
        'current': ('app.log', 0, 500),
        'other': ('keep.txt', 90 * DAY, 10),
    }
    out = {}
    for key, (fname, age, size) in files.items():
        path = os.path.join(directory, fname)
        with open(path, 'w') as f:
            f.write('y' * size)
        os.utime(path, (now - age, now - age))
        out[key] = path
    link = os.path.join(directory, 'escape.log.9')
    os.symlink(outside, link)
    out['link'] = link
    out['outside'] = outside
    return out


def window_now(inside=True):
    """A window that is open now (the whole of today) or closed now (the whole of the day after tomorrow)."""
    today = datetime.datetime.now(datetime.timezone.utc).weekday()
    day = DAYS[today] if inside else DAYS[(today + 2) % 7]
    return {'days': [day], 'start': '00:00', 'end': '00:00', 'timezone': 'UTC'}


def playbook(name, extra, cwd, check=False, groups=('db', 'cache', 'app'), env=None):
    """Run runbook.ops.<name> on localhost (in ``groups``) with the profile_tasks callback; stdout is appended
    to ansible-run.log / ansible-check.log in ``cwd``; ``env`` adds environment variables (ANSIBLE_VERBOSITY...)."""
    return run_playbook(name, extra, cwd, groups=groups, check=check, timeout=300, log=True,
                        env=dict({'ANSIBLE_PIPELINING': 'True'}, **(env or {})),
                        callbacks=['ansible.posix.profile_tasks'])


def load_report(directory, name='weekly_maintenance'):
    with open(os.path.join(str(directory), name + '.json')) as f:
        report = json.load(f)
    with open(os.path.join(str(directory), name + '.md')) as f:
        markdown = f.read()
    return report, markdown


def phase(report, name, host='localhost'):
    for p in report['hosts'][host]['phases']:
        if p['name'] == name:
            return p
    raise AssertionError('no phase %s in %s' % (name, [p['name'] for p in report['hosts'][host]['phases']]))
