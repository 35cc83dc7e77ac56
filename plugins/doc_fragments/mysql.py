# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # a module that speaks only MySQL (matches module_utils/mysql.py mysql_argument_spec)
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host running the MySQL or MariaDB server.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the server.
    type: int
    default: 3306
  login_user:
    description:
      - User to connect as. When omitted, the user of O(config_file) or the client library's default applies.
    type: str
  login_password:
    description:
      - Password of O(login_user). The client tools read it from a private option file (mode 0600, in a private
        temporary directory, removed after the run), never from the command line or the environment; it is never
        returned or logged.
    type: str
  login_unix_socket:
    description:
      - Path of the server's Unix socket file; overrides O(login_host) and O(login_port) when set.
    type: str
  ca_cert:
    description:
      - CA certificate to verify the server with (turns TLS on).
    type: path
  client_cert:
    description:
      - Client certificate for TLS client authentication.
    type: path
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
  check_hostname:
    description:
      - Whether the server certificate's host name is checked (with O(ca_cert)).
    type: bool
  config_file:
    description:
      - A MySQL option file read for the connection (its C([client]) group) when it exists; options given to the
        module override it.
    type: path
    default: ~/.my.cnf
  connect_timeout:
    description:
      - Seconds to wait for a connection before giving up.
    type: int
    default: 30
requirements:
  - PyMySQL
notes:
  - MySQL protocol, tested on MariaDB 10.11; MySQL and TiDB speak the same protocol but are not tested here.
'''

    # the db module family (db_backup, db_backup_info, db_restore, db_maintenance): engine and the options only MySQL reads
    ENGINE = r'''
options:
  engine:
    description:
      - The database engine. V(postgresql) uses the PostgreSQL options and tools (C(pg_dump)); V(mysql) speaks the
        MySQL protocol with PyMySQL and C(mariadb-dump)/C(mysqldump) (tested on MariaDB 10.11; MySQL and TiDB are
        expected to work but are not tested here).
      - "With V(mysql) the shared connection options mean: O(login_port) 5432 (the PostgreSQL default) is read as
        3306, O(login_user) V(postgres) (the PostgreSQL default) as unset (the user of O(config_file) or the client
        library's applies), O(login_unix_socket) is the socket B(file), and O(ca_cert) turns TLS on. The password
        reaches the client tools through a private option file (mode 0600, removed after the run), never argv or
        the environment."
    type: str
    default: postgresql
    choices: [postgresql, mysql]
  client_cert:
    description:
      - With O(engine=mysql), a client certificate for TLS client authentication.
    type: path
  client_key:
    description:
      - With O(engine=mysql), the private key of O(client_cert).
    type: path
  check_hostname:
    description:
      - With O(engine=mysql), whether the server certificate's host name is checked.
    type: bool
  config_file:
    description:
      - With O(engine=mysql), a MySQL option file read for the connection (its C([client]) group) when it exists;
        options given to the module override it.
    type: path
    default: ~/.my.cnf
'''
