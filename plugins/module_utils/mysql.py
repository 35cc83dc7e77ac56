# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared MySQL/MariaDB connection handling for runbook.ops modules (``engine: mysql``).

Option names follow community.mysql (``login_host``, ``login_port``, ``login_user``, ``login_password``,
``login_unix_socket``, ``ca_cert``, ``client_cert``, ``client_key``, ``config_file``, ``connect_timeout``);
see ``doc_fragments/mysql.py``.  Tested on MariaDB 10.11; TiDB and MySQL speak the same protocol
("MySQL protocol, tested on MariaDB").

The modules of the db family also take the PostgreSQL options (``doc_fragments/postgres.py``), whose
defaults are 5432 and ``postgres``; :func:`mysql_params` reads those two defaults as "not given" and
uses 3306 and the option file's (or the client library's) user instead.

The client tools (``mariadb-dump``, ``mariadb``) get their connection, password included, from a private
defaults file (:func:`defaults_file`): mode 0600 in a 0700 temp directory, removed afterwards, named by
``--defaults-file=`` (the path is on argv, the password is not; nothing goes in the environment).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from ansible_collections.runbook.ops.plugins.module_utils import redaction

from ansible_collections.runbook.ops.plugins.module_utils import _lazy

# PyMySQL is imported on first use
HAS_PYMYSQL, PYMYSQL_IMP_ERR = _lazy.available('pymysql')
pymysql = _lazy.module('pymysql')

ENGINES = ('postgresql', 'mysql')
DEFAULT_PORT = 3306
DEFAULT_CONFIG_FILE = '~/.my.cnf'
PG_DEFAULT_PORT = 5432
PG_DEFAULT_USER = 'postgres'
# the options only the mysql engine reads (added to the modules that also speak PostgreSQL)
MYSQL_ONLY_OPTIONS = ('client_cert', 'client_key', 'config_file', 'check_hostname')


class MysqlError(Exception):
    """A failure with a message ready for fail_json (no secrets)."""


def mysql_argument_spec():
    """Connection options of a MySQL-only module (see the doc fragment ``runbook.ops.mysql``)."""
    return dict(
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int', default=DEFAULT_PORT),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True),
        login_unix_socket=dict(type='str'),
        ca_cert=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path'),
        check_hostname=dict(type='bool'),
        config_file=dict(type='path', default=DEFAULT_CONFIG_FILE),
        connect_timeout=dict(type='int', default=30),
    )


def engine_argument_spec():
    """What a module of the db family adds to its PostgreSQL spec for ``engine: mysql``
    (see the doc fragment ``runbook.ops.mysql.engine``)."""
    return dict(
        engine=dict(type='str', default='postgresql', choices=list(ENGINES)),
        client_cert=dict(type='path'),
        client_key=dict(type='path'),
        check_hostname=dict(type='bool'),
        config_file=dict(type='path', default=DEFAULT_CONFIG_FILE),
    )


def mysql_params(params):
    """The connection params for MySQL, with the PostgreSQL defaults of a shared spec read as unset."""
    p = dict((k, v.get('default')) for k, v in mysql_argument_spec().items())
    p.update(dict((k, v) for k, v in params.items() if v is not None))
    if 'engine' in params:  # a module of the db family: its spec has the PostgreSQL defaults
        if p.get('login_port') == PG_DEFAULT_PORT:
            p['login_port'] = DEFAULT_PORT
        if p.get('login_user') == PG_DEFAULT_USER:
            p['login_user'] = None
    return p


def _config_file(p):
    path = p.get('config_file')
    if not path:
        return None
    path = os.path.expanduser(path)
    return path if os.path.isfile(path) else None


def connect_kwargs(p, db=None):
    """Keyword arguments for ``pymysql.connect`` (``p`` from :func:`mysql_params`)."""
    kw = {'connect_timeout': int(p.get('connect_timeout') or 30), 'autocommit': True, 'charset': 'utf8mb4'}
    cfg = _config_file(p)
    if cfg:
        kw['read_default_file'] = cfg
    if p.get('login_unix_socket'):
        kw['unix_socket'] = p['login_unix_socket']
    else:
        kw['host'] = p.get('login_host') or 'localhost'
        kw['port'] = int(p.get('login_port') or DEFAULT_PORT)
    if p.get('login_user') is not None:
        kw['user'] = p['login_user']
    if p.get('login_password') is not None:
        kw['password'] = p['login_password']
    if db is not None:
        kw['database'] = db
    ssl = {}
    for opt, key in (('ca_cert', 'ca'), ('client_cert', 'cert'), ('client_key', 'key')):
        if p.get(opt):
            ssl[key] = p[opt]
    if p.get('check_hostname') is not None:
        ssl['check_hostname'] = p['check_hostname']
    if ssl:
        kw['ssl'] = ssl
    return kw


def connect(params, db=None, autocommit=True):
    """Open a PyMySQL connection; raises :class:`MysqlError` with a redacted message."""
    p = mysql_params(params)
    kw = connect_kwargs(p, db=db)
    kw['autocommit'] = autocommit
    try:
        return pymysql.connect(**kw)
    except pymysql.Error as e:
        raise MysqlError('Could not connect to %s: %s. Check the login_* options, config_file and the server.'
                         % (describe_target(params, db), redact(error_text(e), params)))


def error_text(e):
    """``(1045, "Access denied ...")`` -> ``Access denied ... (1045)``."""
    args = getattr(e, 'args', ())
    if len(args) >= 2 and isinstance(args[0], int):
        return '%s (%d)' % (args[1], args[0])
    return str(e)


def describe_target(params, db=None):
    """A redacted ``user@host:port/db`` (or ``user@unix:socket/db``), safe for messages and results."""
    p = mysql_params(params)
    where = 'unix:%s' % p['login_unix_socket'] if p.get('login_unix_socket') else '%s:%s' % (
        p.get('login_host') or 'localhost', p.get('login_port') or DEFAULT_PORT)
    return '%s@%s/%s' % (p.get('login_user') or '(default user)', where, db or '')


def redact(text, params):
    return redaction.mask(str(text), [params.get('login_password')] if params else ())


def qi(name):
    """A MySQL identifier in backticks (backticks doubled); never interpolate a name any other way."""
    if name is None or '\x00' in name:
        raise MysqlError('Could not quote the name %r: it holds a NUL byte.' % (name,))
    return '`%s`' % name.replace('`', '``')


def option_value(value):
    """A value for a MySQL option file, double-quoted with the escapes the option parser reads."""
    text = str(value)
    if '\n' in text or '\r' in text or '\x00' in text:
        raise MysqlError('Could not write the client options: a value holds a line break or NUL byte.')
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def defaults_text(params, extra=None):
    """The text of the private option file for the client tools (no file is written here)."""
    p = mysql_params(params)
    lines = []
    cfg = _config_file(p)
    if cfg:
        with open(cfg, 'r') as f:
            lines.append(f.read().rstrip('\n'))
    lines.append('[client]')
    if p.get('login_unix_socket'):
        lines.append('socket=%s' % option_value(p['login_unix_socket']))
        lines.append('protocol=socket')
    else:
        host = p.get('login_host') or 'localhost'
        lines.append('host=%s' % option_value(host))
        lines.append('port=%d' % int(p.get('login_port') or DEFAULT_PORT))
        lines.append('protocol=tcp')
    if p.get('login_user') is not None:
        lines.append('user=%s' % option_value(p['login_user']))
    if p.get('login_password') is not None:
        lines.append('password=%s' % option_value(p['login_password']))
    for opt, key in (('ca_cert', 'ssl-ca'), ('client_cert', 'ssl-cert'), ('client_key', 'ssl-key')):
        if p.get(opt):
            lines.append('%s=%s' % (key, option_value(p[opt])))
    if p.get('check_hostname'):
        lines.append('ssl-verify-server-cert')
    for k, v in (extra or {}).items():
        lines.append('%s=%s' % (k, option_value(v)))
    return '\n'.join(lines) + '\n'


@contextlib.contextmanager
def defaults_file(params, tmp_dir=None, extra=None):
    """A private option file (0600 in a 0700 directory) for ``--defaults-file=``; removed on exit."""
    d = tempfile.mkdtemp(prefix='rbo-my-', dir=tmp_dir)
    try:
        os.chmod(d, 0o700)
        path = os.path.join(d, 'client.cnf')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(defaults_text(params, extra))
        yield path
    finally:
        shutil.rmtree(d, ignore_errors=True)


def find_tool(names, bin_dir=None):
    """The first of ``names`` found in ``bin_dir`` or on the PATH; None when none is."""
    for name in names:
        if bin_dir:
            path = os.path.join(bin_dir, name)
            if os.access(path, os.X_OK):
                return path
        else:
            path = shutil.which(name)
            if path:
                return path
    return None


def dump_tool(bin_dir=None):
    return find_tool(('mariadb-dump', 'mysqldump'), bin_dir)


def client_tool(bin_dir=None):
    return find_tool(('mariadb', 'mysql'), bin_dir)


def server_version(conn):
    with conn.cursor() as cur:
        cur.execute('SELECT VERSION()')
        return cur.fetchone()[0]
