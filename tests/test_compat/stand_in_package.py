"""A stand-in package for tests (copied into a temporary folder, never
imported from here): every submodule and name it is asked for exists, as a
permissive stub, unless a file in it says otherwise."""
import importlib.abc
import importlib.machinery
import sys
import types


def _anything(*args, **kwargs):
    return args[0] if args else Stub()


class _StubType(type):

    def __getattr__(cls, name):
        if name.startswith('_'):
            raise AttributeError(name)
        return _anything


class Stub(metaclass=_StubType):
    """Any class or function: subclassable, callable, a decorator."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _anything(*args)

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        return _anything


def stub(name):
    if name.startswith('_'):
        raise AttributeError(name)
    return _StubType(name, (Stub, ), {})


__getattr__ = stub


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(__name__ + '.'):
            return None
        if importlib.machinery.PathFinder.find_spec(fullname, path):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__getattr__ = stub
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


sys.meta_path.append(_StubFinder())
