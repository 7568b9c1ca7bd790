# -*- test-case-name: tests.test_fastinit -*-
"""
Fast construction of frozen, slotted dataclasses (leases, packets): the hot
paths build one per lease or packet, and a dataclass C{__init__} with
C{frozen=True} pays one C{object.__setattr__} call per field. Pure: no I/O,
no Twisted.
"""

from __future__ import annotations

import dataclasses


def fast_constructor(cls):
    """
    A positional constructor for a frozen, slotted dataclass that sets each
    slot through its descriptor in straight-line code: several times
    faster than the dataclass C{__init__} (one C{object.__setattr__} call
    per field) and than C{dataclasses.replace}. Falls back to C{cls} when
    the class has a C{__post_init__} or no slots.
    """
    names = tuple(f.name for f in dataclasses.fields(cls))
    if hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        return cls
    env = {"_new": object.__new__, "_cls": cls}
    lines = []
    for i, name in enumerate(names):
        env[f"_s{i}"] = getattr(cls, name).__set__
        lines.append(f"    _s{i}(obj, a{i})")
    params = ", ".join(f"a{i}" for i in range(len(names)))
    source = (f"def make({params}):\n    obj = _new(_cls)\n" + "\n".join(lines)
              + "\n    return obj\n")
    exec(source, env)  # noqa: S102 - generated straight-line setter code, as dataclasses does
    make = env["make"]
    make.__doc__ = f"Build a {cls.__name__} from positional values {names}."
    return make


__all__ = ["fast_constructor"]
