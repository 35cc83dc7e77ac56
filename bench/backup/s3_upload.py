# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The raw S3 reference of bench/backup: the plainest boto3 upload of a pipe, like ``aws s3 cp - s3://b/k``.

    pg_dump -Fc -Z0 | zstd -T2 | python s3_upload.py ENDPOINT BUCKET KEY

``upload_fileobj`` of stdin with the default TransferConfig (8 MiB parts, 10 threads, CRC32 per part).
Credentials come from the AWS_* environment.  Prints ``ready`` once boto3 is imported and the client
made, so the bench can start the clock (and pg_dump) after the interpreter's start-up, as it does for
db_backup, whose timings also start after its imports.  Exits non-zero on failure.
"""
from __future__ import annotations

import sys

import boto3


def main():
    endpoint, bucket, key = sys.argv[1:4]
    client = boto3.client('s3', endpoint_url=endpoint)
    sys.stdout.write('ready\n')
    sys.stdout.flush()
    client.upload_fileobj(sys.stdin.buffer, bucket, key)


if __name__ == '__main__':
    main()
