"""What a health_check run and the health filters import (bench/fleet: the runbook's controller cost per host).

The module imports every probe type to build its argspec, so a probe type imports at the top only what declaring
it needs: ssl, http.client, urllib.request, asyncio and certs.py are imported by the probes that use them, when
they run (inside the function, so AnsiballZ still ships them; tests/integration/test_health_check.py runs every
probe type through ansible).  The filters of the health role import only the light vocabulary (probe.py)."""
from __future__ import annotations

import subprocess
import sys

MU = 'ansible_collections.runbook.ops.plugins.module_utils'
# imported by the probes that need them, never by the module's start-up
HEAVY_FOR_A_CHEAP_PROBE = ('asyncio', 'ssl', 'http.client', 'urllib.request', 'email', MU + '.certs')


def _new_modules(before, target):
    """Modules importing ``target`` adds to a process that imported ``before`` (what the module run imports
    anyway: AnsibleModule)."""
    code = ("import sys; import %s; seen = set(sys.modules); import %s; "
            "print(' '.join(sorted(m for m in sys.modules if m not in seen)))" % (before, target))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         env={'PYTHONPATH': ':'.join(sys.path)})
    return out.stdout.split()


def test_importing_health_after_ansible_module_loads_no_heavy_stdlib_or_certs():
    # every probe type loaded (a run loads only its own: test_health_lazy_types.py)
    new = _new_modules('ansible.module_utils.basic', '%s.health; %s.health.load_types()' % (MU, MU))
    assert MU + '.health_http' in new                   # the probe types themselves are loaded
    assert [m for m in new if m in HEAVY_FOR_A_CHEAP_PROBE or m.startswith('email.') or m.startswith('asyncio.')] == []


def test_the_health_filters_import_only_the_probe_vocabulary():
    new = _new_modules('json', 'ansible_collections.runbook.ops.plugins.filter.health')
    assert MU + '.probe' in new
    assert [m for m in new if m.startswith(MU + '.health')] == []
    assert [m for m in new if m.startswith('ansible.module_utils.basic')] == []


def test_the_light_copies_of_declaration_constants_match_their_owners():
    from ansible_collections.runbook.ops.plugins.module_utils import certs, health_tls
    assert tuple(health_tls.STARTTLS_PROTOCOLS) == tuple(certs.STARTTLS_PROTOCOLS)


def test_lazily_imported_names_stay_reachable_on_the_probe_modules():
    from ansible_collections.runbook.ops.plugins.module_utils import certs, health, health_tls, probe
    assert health_tls.hostname_matches is certs.hostname_matches
    assert health_tls.x509 is certs.x509
    assert health.merge_checks is probe.merge_checks
