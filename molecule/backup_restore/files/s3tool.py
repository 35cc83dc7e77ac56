"""Scenario helper on db1: fake dated copies of a real backup, and list the store (boto3)."""
import datetime
import json
import secrets
import sys

import boto3


def client(endpoint):
    return boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                        aws_access_key_id='lab', aws_secret_access_key='lab')


def ids(s3, bucket, prefix):
    out = set()
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix + '/'):
        for obj in page.get('Contents', []):
            out.add(obj['Key'][len(prefix) + 1:].split('/')[0])
    return sorted(out)


def fake(s3, bucket, prefix, days):
    """Copy the newest real backup under ids dated `days` ago (objects copied server-side, manifest edited)."""
    src = ids(s3, bucket, prefix)[-1]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key='%s/%s/manifest.json' % (prefix, src))['Body'].read())
    slug = src.split('-', 1)[1].rsplit('-', 1)[0]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix='%s/%s/' % (prefix, src)).get('Contents', [])
    objects = [o['Key'].rsplit('/', 1)[1] for o in listing if not o['Key'].endswith('/manifest.json')]
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    made = []
    for d in days:
        when = now - datetime.timedelta(days=d, hours=1)
        new_id = '%s-%s-%s' % (when.strftime('%Y%m%dT%H%M%SZ'), slug, secrets.token_hex(3))
        # every object of the real backup (the data and, when the backup has them, the globals), so that
        # each copy is a valid backup; only the manifest is rewritten, last
        for name in objects:
            s3.copy_object(Bucket=bucket, Key='%s/%s/%s' % (prefix, new_id, name),
                           CopySource={'Bucket': bucket, 'Key': '%s/%s/%s' % (prefix, src, name)})
        m = dict(manifest, id=new_id, created_at=when.strftime('%Y-%m-%dT%H:%M:%S.000000Z'))
        s3.put_object(Bucket=bucket, Key='%s/%s/manifest.json' % (prefix, new_id), Body=json.dumps(m).encode())
        made.append(new_id)
    return made


if __name__ == '__main__':
    cmd, endpoint, bucket, prefix = sys.argv[1:5]
    s3 = client(endpoint)
    if cmd == 'list':
        print(json.dumps(ids(s3, bucket, prefix)))
    elif cmd == 'fake':
        # one backup every 2 days for 30 days, then one a week back to 420 days
        print(json.dumps(fake(s3, bucket, prefix, list(range(1, 31, 2)) + list(range(31, 421, 7)))))
