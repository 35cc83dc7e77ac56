# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real MariaDB server for the mysql engine tests (Debian's mariadb-server, started by the session).

``mariadb_server`` (session): mariadbd on 127.0.0.1:<free port> and a socket under a temp dir, a root account
with a password; ``.params`` are the module options (engine mysql), ``.sql(text, db=None)`` runs SQL through
PyMySQL and returns the rows.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile

import pymysql
import pytest

from servers import free_port, stop_process, wait_port


class MariaDB(object):
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix='rbo-my-')
        self.datadir = os.path.join(self.base, 'data')
        self.socket = os.path.join(self.base, 'sock')
        self.port = free_port()
        self.user = 'rbo_admin'
        self.password = 'pw-' + secrets.token_hex(8) + '"\\\'x'
        self.proc = None

    def start(self):
        if not shutil.which('mariadbd') and not os.path.exists('/usr/sbin/mariadbd'):
            pytest.skip('mariadb-server is not installed (bindep: mariadb-server)')
        r = subprocess.run(['mariadb-install-db', '--no-defaults', '--datadir=' + self.datadir, '--user=root',
                            '--skip-test-db', '--auth-root-authentication-method=socket'],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError('mariadb-install-db failed (rc %d): %s' % (r.returncode, (r.stdout + r.stderr)[-2000:]))
        log = open(os.path.join(self.base, 'mariadbd.log'), 'w')
        self.proc = subprocess.Popen(['/usr/sbin/mariadbd', '--no-defaults', '--datadir=' + self.datadir,
                                      '--user=root', '--socket=' + self.socket, '--port=%d' % self.port,
                                      '--bind-address=127.0.0.1', '--skip-name-resolve',
                                      '--pid-file=' + os.path.join(self.base, 'pid'),
                                      '--innodb-buffer-pool-size=64M', '--event-scheduler=OFF',
                                      '--max-connections=50'],
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=60, proc=self.proc)
        root = pymysql.connect(unix_socket=self.socket, user='root', autocommit=True)
        with root.cursor() as cur:
            for host in ('127.0.0.1', 'localhost'):
                cur.execute('CREATE USER %s@%s IDENTIFIED BY %s', (self.user, host, self.password))
                cur.execute('GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION', (self.user, host))
        root.close()
        return self

    @property
    def params(self):
        return dict(engine='mysql', login_host='127.0.0.1', login_port=self.port, login_user=self.user,
                    login_password=self.password)

    def connect(self, db=None):
        return pymysql.connect(host='127.0.0.1', port=self.port, user=self.user, password=self.password,
                               database=db, autocommit=True, charset='utf8mb4')

    def sql(self, text, args=None, db=None):
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(text, args)
                return cur.fetchall()
        finally:
            conn.close()

    def stop(self):
        if self.proc is not None:
            subprocess.run(['mariadb-admin', '--no-defaults', '--socket=' + self.socket, '--user=root', 'shutdown'],
                           capture_output=True, check=False, timeout=60)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                stop_process(self.proc)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope='session')
def mariadb_server():
    server = MariaDB()
    try:
        yield server.start()
    finally:
        server.stop()


def qi(name):
    return '`%s`' % name.replace('`', '``')


def unique_db(prefix='app'):
    return '%s_%s' % (prefix, secrets.token_hex(4))


def create_db(my, name, rows=1000, engine='InnoDB', hostile=False):
    """A database with tables orders/items (+ a view, trigger, procedure, function, event); returns its name."""
    my.sql('CREATE DATABASE %s CHARACTER SET utf8mb4' % qi(name))
    stmts = [
        'CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(100), total INT) ENGINE=%s' % engine,
        'CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT, qty INT) ENGINE=%s' % engine,
        'CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50)) ENGINE=InnoDB',
        'INSERT INTO orders SELECT seq, CONCAT(\'note \', seq), seq * 10 FROM seq_1_to_%d' % rows,
        'INSERT INTO items (order_id, qty) SELECT seq DIV 2 + 1, seq FROM seq_1_to_%d' % (rows * 2),
        'CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100',
        'CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (msg) VALUES (\'new order\')',
        'CREATE PROCEDURE order_count(OUT n INT) SELECT COUNT(*) INTO n FROM orders',
        'CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2',
        'CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit',
    ]
    if hostile:
        stmts.append('CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB' % qi('we`ird "t\'; --ü'))
        stmts.append('INSERT INTO %s VALUES (1, \'ä\'), (2, \'b\')' % qi('we`ird "t\'; --ü'))
    conn = my.connect(name)
    try:
        with conn.cursor() as cur:
            for s in stmts:
                cur.execute(s)
    finally:
        conn.close()
    return name


def counts(my, db):
    tables = [r[0] for r in my.sql("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                                   "AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", (db,))]
    return dict((t, my.sql('SELECT COUNT(*) FROM %s.%s' % (qi(db), qi(t)))[0][0]) for t in tables)


def databases(my):
    return set(r[0] for r in my.sql('SHOW DATABASES'))


def drop_db(my, name):
    my.sql('DROP DATABASE IF EXISTS %s' % qi(name))
