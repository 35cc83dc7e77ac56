# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client libraries imported on first use, not when a module starts.

A module run imports every module_utils it may need; importing boto3, psycopg, redis, celery, PyMySQL and
cryptography up front cost about a second per host even for a health check that only reads the disk (bench/fleet
measures the controller's cost per host).  ``module('boto3')`` returns a stand-in that imports the library when
one of its attributes is first read; ``attr('bullmq', 'Queue')`` one that imports it when the class is first
called or read.  ``available('boto3')`` says whether the library is installed without importing it.

An ``except`` clause needs the real class: write ``except lazy_module.SomeError``, never a stand-in made by
``attr()``.
"""

from __future__ import annotations

import importlib
import importlib.util


def available(*names):
    """``(True, None)`` when every top-level package of ``names`` is installed, else ``(False, message)``;
    nothing is imported."""
    for name in names:
        try:
            found = importlib.util.find_spec(name.split('.')[0]) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return False, 'ImportError: No module named %s' % name.split('.')[0]
    return True, None


class LazyModule(object):
    """A module imported when one of its attributes is first read; a missing attribute that names a submodule
    imports the submodule (``botocore.config`` after ``module('botocore')``)."""

    def __init__(self, name):
        object.__setattr__(self, '_lazy_name', name)
        object.__setattr__(self, '_lazy_module', None)

    def _lazy_load(self):
        loaded = object.__getattribute__(self, '_lazy_module')
        if loaded is None:
            loaded = importlib.import_module(object.__getattribute__(self, '_lazy_name'))
            object.__setattr__(self, '_lazy_module', loaded)
        return loaded

    def __getattr__(self, attribute):
        loaded = self._lazy_load()
        try:
            return getattr(loaded, attribute)
        except AttributeError:
            if attribute.startswith('__'):
                raise
            return importlib.import_module('%s.%s' % (object.__getattribute__(self, '_lazy_name'), attribute))

    def __repr__(self):
        return '<lazy module %s>' % object.__getattribute__(self, '_lazy_name')


class LazyAttr(object):
    """An attribute of a module (a class, a constant) resolved on first use: called, read or iterated."""

    def __init__(self, module_name, attribute):
        self._module = LazyModule(module_name)
        self._attribute = attribute

    def resolve(self):
        return getattr(self._module, self._attribute)

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attribute):
        if attribute in ('_module', '_attribute'):
            raise AttributeError(attribute)
        return getattr(self.resolve(), attribute)

    def __iter__(self):
        return iter(self.resolve())

    def __len__(self):
        return len(self.resolve())

    def __getitem__(self, key):
        return self.resolve()[key]

    def __repr__(self):
        return '<lazy %s.%s>' % (self._module.__repr__()[12:-1], self._attribute)


def module(name):
    return LazyModule(name)


def attr(module_name, attribute):
    return LazyAttr(module_name, attribute)
