# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # The store and what is written there; modules extend runbook.ops.backup_store.s3 too for the
    # S3 connection options (shared with modules that read S3 but are not backup stores).
    DOCUMENTATION = r'''
options:
  store:
    description:
      - The backup store, named by a URL.
      - V(s3://bucket/prefix) for an S3 bucket (or an S3-compatible endpoint, see O(s3_endpoint_url)).
      - An absolute directory path (or V(file:///path)) for a local store.
      - Each backup is a folder C(<id>/) holding C(data.dump[.zst|.gz]), optionally C(globals.sql[.zst|.gz]),
        and C(manifest.json), which is written last and marks the backup as complete.
    type: str
    required: true
  s3_storage_class:
    description:
      - Storage class of the objects written.
    type: str
    default: STANDARD
    choices: [STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, REDUCED_REDUNDANCY]
  s3_sse:
    description:
      - Server-side encryption of the objects written.
    type: str
    choices: [AES256, 'aws:kms']
  s3_kms_key_id:
    description:
      - KMS key id or ARN when O(s3_sse=aws:kms). Requires O(s3_sse).
    type: str
  s3_connect_timeout:
    description:
      - Seconds to wait for the S3 endpoint to accept a connection, per attempt.
    type: int
    default: 10
  s3_read_timeout:
    description:
      - Seconds to wait for each read from the S3 endpoint, per attempt. An endpoint that accepts connections and
        never answers fails a request after O(s3_read_timeout) times O(s3_max_attempts) seconds (boto3's own default
        of 120 s with retries made a frozen endpoint hang a task for more than ten minutes).
    type: int
    default: 60
  s3_max_attempts:
    description:
      - Attempts per S3 request, the first one included (botocore's C(standard) retry mode, with backoff).
        V(1) means no retry.
    type: int
    default: 3
requirements:
  - boto3 >= 1.26 (for an s3:// store)
'''

    # The S3 connection options alone (for modules that read S3 but are not backup stores, e.g. files_restore):
    # extends_documentation_fragment: [runbook.ops.backup_store.s3]
    S3 = r'''
options:
  s3_endpoint_url:
    description:
      - URL of an S3-compatible endpoint (MinIO, Ceph, moto). Default is AWS.
    type: str
  aws_region:
    description:
      - AWS region of the bucket. Defaults to E(AWS_REGION) or E(AWS_DEFAULT_REGION).
    type: str
  aws_access_key:
    description:
      - AWS access key id. When omitted, boto3's usual chain applies (E(AWS_ACCESS_KEY_ID),
        shared credentials, instance or task role).
      - Requires O(aws_secret_key).
    type: str
  aws_secret_key:
    description:
      - AWS secret access key. Never logged or returned.
      - Requires O(aws_access_key).
    type: str
requirements:
  - boto3 >= 1.26
'''
