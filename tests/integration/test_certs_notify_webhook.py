# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certs role's webhook notification (roles/certs/tasks/notify.yml) at -vvv against a real local receiver:
the URL (the credential) is never printed, a refusing or absent webhook only warns and never fails the play."""
from __future__ import annotations

import pytest

from playbooks import run_playbook
from webhook_fixtures import webhook_receiver

PLAY = '''---
- name: Post one certs notification
  hosts: web
  gather_facts: false
  tasks:
    - name: Notify through the certs role
      ansible.builtin.include_role:
        name: runbook.ops.certs
        tasks_from: notify.yml
      vars:
        _certs_message: "certificate app1 renewed"
    - name: Still running after the notification
      ansible.builtin.debug:
        msg: after-the-notification
'''


@pytest.mark.parametrize('status', [200, 500, None], ids=['accepts', 'answers-500', 'unreachable'])
def test_certs_webhook_never_prints_its_url_and_never_fails_the_play(tmp_path, status):
    (tmp_path / 'notify.yml').write_text(PLAY)
    with webhook_receiver(status) as hook:
        r = run_playbook(str(tmp_path / 'notify.yml'), {'certs_webhook_url': hook.url}, tmp_path, groups=('web',),
                         env={'ANSIBLE_VERBOSITY': '3'})
    assert hook.token not in r.stdout + r.stderr
    assert r.returncode == 0, r.stdout[-3000:]
    assert 'after-the-notification' in r.stdout
    warning = 'The webhook did not accept the notification (HTTP status %s, host 127.0.0.1)' % (status or -1)
    if status == 200:
        assert hook.received == [{'text': 'certificate app1 renewed'}] and 'did not accept' not in r.stdout
    else:
        assert warning in r.stdout
