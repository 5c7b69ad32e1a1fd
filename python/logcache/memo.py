"""``Cache.memoize``: a function's results kept in the cache, keyed by its name and arguments.

The key is a tuple: the function's full name (or ``name``), the positional arguments, a
marker, then the keyword arguments in sorted order; with ``typed``, the arguments' types
follow, so ``f(1)`` and ``f(1.0)`` are kept apart. Arguments whose positions or names are in
``ignore`` are left out. Coroutine functions are memoized as coroutines: the result awaited is
what is kept. ``wrapper.__cache_key__(*args, **kwargs)`` gives the key a call would use.
"""

import functools
import inspect

_MISSING = object()
_KWARGS = ("logcache.memoize.kwargs",)


def _full_name(func):
    return f"{func.__module__}.{func.__qualname__}"


def _key(base, args, kwargs, typed, ignore):
    kept = tuple(a for i, a in enumerate(args) if i not in ignore)
    items = sorted((k, v) for k, v in kwargs.items() if k not in ignore)
    key = base + kept + _KWARGS
    for k, v in items:
        key += (k, v)
    if typed:
        key += tuple(type(a) for a in kept) + tuple(type(v) for _, v in items)
    return key


def memoize(cache, name=None, typed=False, expire=None, tag=None, ignore=()):
    """See ``Cache.memoize``."""
    if callable(name):
        raise TypeError("name cannot be callable: call memoize() when decorating")

    def decorator(func):
        base = (_full_name(func) if name is None else name,)

        def cache_key(*args, **kwargs):
            return _key(base, args, kwargs, typed, ignore)

        def keep(key, result):
            if expire is None or expire > 0:
                cache.set(key, result, expire, tag=tag)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def wrapper(*args, **kwargs):
                key = cache_key(*args, **kwargs)
                result = cache.get(key, default=_MISSING)
                if result is _MISSING:
                    result = await func(*args, **kwargs)
                    keep(key, result)
                return result

        else:

            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                key = cache_key(*args, **kwargs)
                result = cache.get(key, default=_MISSING)
                if result is _MISSING:
                    result = func(*args, **kwargs)
                    keep(key, result)
                return result

        wrapper.__cache_key__ = cache_key
        return wrapper

    return decorator
