"""Every role has a README (Galaxy refuses a collection whose roles have none); the generated ones match their
meta/argument_specs.yml (scripts/role_readmes.py --check)."""
import os
import subprocess
import sys

from testkit import REPO


def test_every_role_has_a_readme():
    roles = sorted(os.listdir(os.path.join(REPO, 'roles')))
    assert [r for r in roles if not os.path.exists(os.path.join(REPO, 'roles', r, 'README.md'))] == []


def test_generated_role_readmes_are_up_to_date():
    result = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'role_readmes.py'), '--check'],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
