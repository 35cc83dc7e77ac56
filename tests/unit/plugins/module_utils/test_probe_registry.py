"""The probe-type registry of health.py: a type declared in its own file (probe.ProbeType) joins the
argspec, the validation, the grading, the redaction and the requirement check."""
import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import probe


def _run(check):
    if check.get('fail'):
        raise probe.ProbeError('Could not reach %s with %s' % (check['target'], check.get('token')))
    return probe.ProbeResult({'depth': check['depth_seen']})


def _validate(check):
    if check['target'] == 'bad':
        raise probe.HealthConfigError("check '%s': target must not be bad" % check['name'])


FAKE = probe.ProbeType(
    name='fake', run=_run,
    metrics={'depth': (probe.HIGHER, probe.levels(10, 20))},
    options=('target', 'token', 'depth_seen', 'fail'),
    suboptions={'target': dict(type='str'), 'token': dict(type='str', no_log=True),
                'depth_seen': dict(type='int', default=3), 'fail': dict(type='bool')},
    required=('target',),
    requirement=lambda checks: ('fakelib', 'ImportError: fakelib') if any(c['target'] == 'needs-lib' for c in checks) else None,
    validate=_validate,
    secrets=('token',),
)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(health, 'CHECK_TYPES', health.CHECK_TYPES)
    monkeypatch.setattr(health, 'METRICS', dict(health.METRICS))
    monkeypatch.setattr(health, 'TYPE_OPTIONS', dict(health.TYPE_OPTIONS))
    monkeypatch.setattr(health, 'PROBES', dict(health.PROBES))
    monkeypatch.setattr(health, 'EXTRA_TYPES_BY_NAME', {})
    monkeypatch.setattr(health, 'EXTRA_PROBE_TYPES', (FAKE,))
    health.register(FAKE)
    return health


def _norm(h, **kw):
    check = dict(name='f', type='fake', target='db1', depth_seen=3)
    check.update(kw)
    return h.normalize_checks([check])


def test_a_registered_type_joins_the_argspec(registered):
    spec = registered.argument_spec()['checks']
    assert 'fake' in spec['options']['type']['choices']
    assert spec['options']['token'] == {'type': 'str', 'no_log': True}
    assert 'default' not in spec['options']['depth_seen']
    assert ('type', 'fake', ('target',)) in spec['required_if']


def test_a_registered_type_is_graded_with_its_own_metrics(registered):
    report = registered.run_checks(_norm(registered, depth_seen=15))
    assert report['checks'][0]['status'] == 'warning'
    assert 'depth 15 >= warning 10' in report['checks'][0]['message']
    report = registered.run_checks(_norm(registered, depth_seen=2))
    assert report['checks'][0]['status'] == 'ok'


def test_a_registered_type_refuses_foreign_options_and_unknown_metrics(registered):
    with pytest.raises(health.HealthConfigError, match='does not take option'):
        _norm(registered, url='http://x')
    with pytest.raises(health.HealthConfigError, match='unknown metric'):
        _norm(registered, thresholds={'latency_ms': {'warning': 1}})


def test_a_registered_type_validates_its_values(registered):
    with pytest.raises(health.HealthConfigError, match='target must not be bad'):
        _norm(registered, target='bad')


def test_a_registered_type_secret_is_masked_in_messages(registered):
    report = registered.run_checks(_norm(registered, fail=True, token='s3cr3t-tok'))
    assert report['checks'][0]['status'] == 'critical'
    assert 's3cr3t-tok' not in report['checks'][0]['message']
    assert 'Could not reach db1' in report['checks'][0]['message']


def test_a_registered_type_requirement_is_checked(registered):
    assert registered.check_requirements(_norm(registered)) is None
    assert registered.check_requirements(_norm(registered, target='needs-lib')) == ('fakelib', 'ImportError: fakelib')


def test_a_type_cannot_be_registered_twice(registered):
    with pytest.raises(ValueError, match='registered twice'):
        registered.register(FAKE)


def test_a_suboption_declared_differently_by_two_types_is_refused(registered, monkeypatch):
    other = probe.ProbeType(name='other', run=_run, metrics={}, options=('target',),
                            suboptions={'target': dict(type='int')})
    monkeypatch.setattr(health, 'EXTRA_PROBE_TYPES', (FAKE, other))
    with pytest.raises(health.HealthConfigError, match='declares option target'):
        registered.check_suboptions()


def test_builtin_and_probe_vocabularies_are_one():
    assert health.ProbeError is probe.ProbeError
    assert health.ProbeResult is probe.ProbeResult
    assert health.HealthConfigError is probe.HealthConfigError
    assert health.SEVERITY is probe.SEVERITY
