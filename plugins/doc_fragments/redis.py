# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  host:
    description:
      - Redis server host name or address.
    type: str
    default: 127.0.0.1
  port:
    description:
      - Redis server port.
    type: int
    default: 6379
  db:
    description:
      - Database index to select.
    type: int
    default: 0
  username:
    description:
      - ACL user name (Redis 6 and later). Omit for the C(default) user.
    type: str
  password:
    description:
      - Password of O(username), or the C(requirepass) password. Never returned or logged.
    type: str
  tls:
    description:
      - Connect over TLS. Off by default.
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the server certificate when O(tls=true).
    type: bool
    default: true
  ca_cert:
    description:
      - CA bundle used to verify the server certificate.
    type: path
  client_cert:
    description:
      - Client certificate for mutual TLS.
    type: path
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
  socket_timeout:
    description:
      - Seconds to wait for a connection and for each reply.
    type: float
    default: 10.0
requirements:
  - redis (redis-py) >= 4.3
'''
