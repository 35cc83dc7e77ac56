# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host running the PostgreSQL server.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description:
      - Role to connect as.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). It is passed to libpq tools through the
        E(PGPASSWORD) environment variable, never on the command line, and is
        never returned or logged. When omitted, libpq's usual sources apply
        (E(PGPASSWORD), C(~/.pgpass), peer or trust authentication).
    type: str
  login_unix_socket:
    description:
      - Directory of the server's Unix socket; overrides O(login_host) when set.
    type: path
  ssl_mode:
    description:
      - libpq SSL mode for the connection.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file used to verify the server (libpq C(sslrootcert)).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for a connection before giving up.
    type: int
    default: 10
requirements:
  - psycopg >= 3.1 (psycopg 3)
'''
