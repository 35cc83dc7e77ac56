"""Client libraries are imported on first use (module_utils/_lazy.py): a module run that does not need boto3,
psycopg, redis, celery, bullmq, PyMySQL or cryptography never pays for importing them."""
import subprocess
import sys

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import _lazy

HEAVY = ('boto3', 'botocore', 'psycopg', 'redis', 'celery', 'kombu', 'bullmq', 'pymysql', 'cryptography')


@pytest.mark.parametrize('module_utils', ['health', 'backup_store', 'certs', 'postgres', 'redis_client', 'mysql',
                                          'queues', 'queues_celery'])
def test_importing_module_utils_loads_no_client_library(module_utils):
    code = ("import sys; import ansible_collections.runbook.ops.plugins.module_utils.%s; "
            "print(','.join(m for m in %r if m in sys.modules))" % (module_utils, HEAVY))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         env={'PYTHONPATH': ':'.join(sys.path)})
    loaded = [m for m in out.stdout.strip().split(',') if m]
    assert loaded == []


def test_a_lazy_module_imports_on_first_attribute_and_reaches_submodules():
    code = ("import sys; from ansible_collections.runbook.ops.plugins.module_utils import _lazy; "
            "m = _lazy.module('xml'); print('xml.dom' in sys.modules); print(m.dom.__name__); print('xml.dom' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         env={'PYTHONPATH': ':'.join(sys.path)})
    assert out.stdout.split() == ['False', 'xml.dom', 'True']    # a submodule the package does not import


def test_a_lazy_attribute_is_called_iterated_and_read():
    counter = _lazy.attr('collections', 'Counter')
    assert counter('aab')['a'] == 2
    steps = _lazy.attr('string', 'digits')
    assert list(steps)[:3] == ['0', '1', '2'] and len(steps) == 10 and steps[1] == '1'
    assert _lazy.attr('collections', 'OrderedDict').__name__ == 'OrderedDict'


def test_available_imports_nothing():
    assert _lazy.available('json') == (True, None)
    ok, message = _lazy.available('json', 'no_such_module_rbo')
    assert not ok and 'no_such_module_rbo' in message


def test_lazy_exception_classes_match_in_except_clauses():
    exceptions = _lazy.module('json.decoder')
    try:
        raise exceptions.JSONDecodeError('x', 'doc', 0)
    except (exceptions.JSONDecodeError, OSError) as exc:
        assert isinstance(exc, ValueError)


def test_celery_constants_are_kombus():
    from kombu.transport.redis import Channel, PRIORITY_STEPS
    from ansible_collections.runbook.ops.plugins.module_utils import queues_celery
    assert queues_celery.SEP == Channel.sep
    assert queues_celery.UNACKED_KEY == Channel.unacked_key
    assert list(queues_celery.PRIORITY_STEPS) == list(PRIORITY_STEPS)
