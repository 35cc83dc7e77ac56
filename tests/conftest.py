"""Make the repository importable as ``ansible_collections.runbook.ops``.

The repo root is the collection root.  A symlink tree under ``.build/collections``
(made here, or by ``make collection-link``) gives Python and Ansible the
``ansible_collections/runbook/ops`` path they expect, without copying anything.
"""
import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)  # shared helpers: ``from testkit import REPO, make_tarball``

from testkit import REPO  # noqa: E402  pylint: disable=wrong-import-position

COLLECTIONS = os.path.join(REPO, '.build', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'runbook', 'ops')

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    try:
        os.symlink(REPO, LINK)
    except FileExistsError:
        pass
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join(
    [COLLECTIONS] + [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p])
