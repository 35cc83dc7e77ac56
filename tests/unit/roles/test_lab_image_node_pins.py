"""The lab image's npm packages (lab/image/node, installed by lab/image/build.sh with `npm ci`) are the versions the
integration tests pin, exactly, and the lock file resolves them: seed 002's Molecule scenario then runs the same pm2
and bullmq as tests/integration/pm2_fixtures.py and queue_fixtures.py."""
import json
import os
import re

from testkit import REPO

NODE = os.path.join(REPO, 'lab', 'image', 'node')


def _fixture_pin(fixture, constant):
    with open(os.path.join(REPO, 'tests', 'integration', fixture)) as f:
        m = re.search(r"^%s = '([^']+)'$" % constant, f.read(), re.M)
    assert m, '%s not found in %s' % (constant, fixture)
    return m.group(1)


def _load(name):
    with open(os.path.join(NODE, name)) as f:
        return json.load(f)


def _expected():
    return {'pm2': _fixture_pin('pm2_fixtures.py', 'PM2_VERSION'),
            'bullmq': _fixture_pin('queue_fixtures.py', 'BULLMQ_NPM_VERSION'),
            'ioredis': _fixture_pin('queue_fixtures.py', 'IOREDIS_NPM_VERSION')}


def test_package_json_pins_the_fixtures_versions_exactly():
    assert _load('package.json')['dependencies'] == _expected()


def test_lock_file_resolves_the_pinned_versions():
    lock = _load('package-lock.json')
    assert lock['packages']['']['dependencies'] == _expected()
    for name, version in _expected().items():
        assert lock['packages']['node_modules/' + name]['version'] == version


def test_build_hashes_and_installs_from_the_lock_file():
    with open(os.path.join(REPO, 'lab', 'image', 'build.sh')) as f:
        build = f.read()
    assert '"$HERE/node/package-lock.json"' in build.split('IMAGE=')[0]  # a new lock file rebuilds the image
    assert 'npm ci ' in build
