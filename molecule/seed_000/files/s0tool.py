"""Scenario helper on mysql1 (boto3 against the lab's S3 endpoint):
  put <file> <key>          upload a file as the seed does (`aws s3 cp`)
  fake <prefix> <days>...   copy the newest real backup under ids dated <days> ago (manifest rewritten last)
  list <prefix>             the backup ids under a prefix, as JSON
  manifest <prefix> <id>    a backup's manifest"""
import datetime
import json
import secrets
import sys

import boto3

ENDPOINT, BUCKET = sys.argv[1], sys.argv[2]
S3 = boto3.client('s3', endpoint_url=ENDPOINT, region_name='us-east-1',
                  aws_access_key_id='lab', aws_secret_access_key='lab')


def ids(prefix):
    out = set()
    for page in S3.get_paginator('list_objects_v2').paginate(Bucket=BUCKET, Prefix=prefix + '/'):
        for obj in page.get('Contents', []):
            out.add(obj['Key'][len(prefix) + 1:].split('/')[0])
    return sorted(out)


def manifest(prefix, bid):
    return json.loads(S3.get_object(Bucket=BUCKET, Key='%s/%s/manifest.json' % (prefix, bid))['Body'].read())


def fake(prefix, days):
    src = ids(prefix)[-1]
    m = manifest(prefix, src)
    slug = src.split('-', 1)[1].rsplit('-', 1)[0]
    listing = S3.list_objects_v2(Bucket=BUCKET, Prefix='%s/%s/' % (prefix, src)).get('Contents', [])
    objects = [o['Key'].rsplit('/', 1)[1] for o in listing if not o['Key'].endswith('/manifest.json')]
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    made = []
    for d in days:
        when = now - datetime.timedelta(days=d, hours=1)
        new_id = '%s-%s-%s' % (when.strftime('%Y%m%dT%H%M%SZ'), slug, secrets.token_hex(3))
        for name in objects:
            S3.copy_object(Bucket=BUCKET, Key='%s/%s/%s' % (prefix, new_id, name),
                           CopySource={'Bucket': BUCKET, 'Key': '%s/%s/%s' % (prefix, src, name)})
        body = dict(m, id=new_id, created_at=when.strftime('%Y-%m-%dT%H:%M:%S.000000Z'))
        S3.put_object(Bucket=BUCKET, Key='%s/%s/manifest.json' % (prefix, new_id), Body=json.dumps(body).encode())
        made.append(new_id)
    return made


if __name__ == '__main__':
    cmd, args = sys.argv[3], sys.argv[4:]
    if cmd == 'put':
        S3.upload_file(args[0], BUCKET, args[1])
    elif cmd == 'fake':
        print(json.dumps(fake(args[0], [int(d) for d in args[1:]])))
    elif cmd == 'list':
        print(json.dumps(ids(args[0])))
    elif cmd == 'manifest':
        print(json.dumps(manifest(args[0], args[1])))
    else:
        sys.exit('unknown command %s' % cmd)
