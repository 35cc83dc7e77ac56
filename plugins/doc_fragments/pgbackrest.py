# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  stanza:
    description:
      - The pgBackRest stanza (one per PostgreSQL cluster).
    type: str
    required: true
  config:
    description:
      - An existing pgBackRest configuration file that describes the repository (for example the one the
        C(runbook.ops.pitr) role writes, C(/etc/pgbackrest/pgbackrest.conf)). The repository options below are then
        not used.
      - Without it, the module writes a temporary configuration file (mode 0600, owned by O(run_as)) from the
        repository options, passes it with C(--config), and removes it afterwards. Secrets never reach an argv.
    type: path
  repo_type:
    description:
      - Where the repository lives.
    type: str
    choices: [posix, s3]
    default: posix
  repo_path:
    description:
      - The repository path (a directory, or the prefix inside the bucket).
    type: str
    default: /var/lib/pgbackrest
  s3_bucket:
    description:
      - The bucket (with O(repo_type=s3)).
    type: str
  s3_endpoint:
    description:
      - The S3 host name (pgBackRest speaks HTTPS only).
    type: str
  s3_port:
    description:
      - The S3 port.
    type: int
    default: 443
  s3_region:
    description:
      - The S3 region.
    type: str
    default: us-east-1
  s3_uri_style:
    description:
      - V(host) (virtual-hosted) or V(path) style URIs; most S3-compatible servers want V(path).
    type: str
    choices: [host, path]
    default: host
  s3_key:
    description:
      - The S3 access key id.
    type: str
  s3_key_secret:
    description:
      - The S3 secret key. Written only to the temporary configuration file, never returned or logged.
    type: str
  s3_ca_file:
    description:
      - A CA bundle the S3 endpoint's certificate is checked against.
    type: path
  s3_verify_tls:
    description:
      - Check the S3 endpoint's certificate.
    type: bool
    default: true
  repo_cipher_pass:
    description:
      - The repository's encryption passphrase (C(aes-256-cbc)), when the repository is encrypted.
    type: str
  run_as:
    description:
      - The operating system user pgBackRest and PostgreSQL run as (through C(runuser) when the module runs as root).
    type: str
    default: postgres
  pgbackrest_bin:
    description:
      - The pgbackrest executable.
    type: path
    default: pgbackrest
requirements:
  - pgBackRest 2.45 or later, and the PostgreSQL server binaries of the backup's major version (pg_waldump).
'''
