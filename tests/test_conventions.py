"""
The conventions of the style guide (C{docs/style-and-layout.md}, section 3)
as tests: each rule's "Check" runs here over the source files.

These tests only read and parse files (C{ast}); they import nothing from
the code they check, so they are fast and a syntax error in one module
shows up as a violation of that module. Each test collects every
violation as C{path:line: what} and fails with the whole list.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Iterator
from functools import cache

from twisted.trial.unittest import SynchronousTestCase

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Modules may grow to about 500 lines; above this they must be split.
MAX_MODULE_LINES = 520
#: Above this a module is reported (not failed): time to plan a split.
WARN_MODULE_LINES = 500

HEADER = re.compile(r"^# -\*- test-case-name: (?P<names>[\w.]+(?:\s*,\s*[\w.]+)*) -\*-$")


def python_files(top: str) -> list[str]:
    """Repository-relative paths of the .py files under C{top}, sorted."""
    found = []
    for directory, subdirs, files in os.walk(os.path.join(REPO, top)):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__" and not d.startswith("."))
        for name in files:
            if name.endswith(".py"):
                found.append(os.path.relpath(os.path.join(directory, name), REPO))
    return sorted(found)


@cache
def source(path: str) -> str:
    """The text of C{path} (repository-relative)."""
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


@cache
def tree(path: str) -> ast.Module:
    """The parsed C{path}."""
    return ast.parse(source(path), path)


_NODES: dict[int, tuple[ast.Module, list[ast.AST]]] = {}


def walk(module: ast.Module) -> list[ast.AST]:
    """Every node of C{module}, listed once per module object."""
    cached = _NODES.get(id(module))
    if cached is None or cached[0] is not module:
        cached = _NODES[id(module)] = (module, list(ast.walk(module)))
    return cached[1]


def src_files() -> list[str]:
    """Every module of the kea_ha_tw package."""
    return python_files("kea_ha_tw")


def test_files() -> list[str]:
    """Every module under tests/ (unit and integration)."""
    return python_files("tests")


def unit_test_files() -> list[str]:
    """tests/ without tests/integration/ and tests/fakes.py (style guide 3.3)."""
    return [p for p in test_files()
            if not p.startswith(os.path.join("tests", "integration") + os.sep)
            and p != os.path.join("tests", "fakes.py")]


def module_name(path: str) -> str:
    """The dotted module name of a repository-relative path."""
    parts = path[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def at(path: str, node: ast.AST, what: str) -> str:
    """One violation, C{path:line: what}."""
    return f"{path}:{getattr(node, 'lineno', 0)}: {what}"


def import_aliases(module: ast.Module) -> dict[str, str]:
    """Local name -> qualified name, for every import anywhere in C{module}."""
    aliases: dict[str, str] = {}
    for node in walk(module):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def qualified(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """C{time.perf_counter} for C{perf_counter} or C{time.perf_counter}, etc."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = qualified(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def imported_modules(module: ast.Module, path: str) -> Iterator[tuple[ast.AST, str]]:
    """(node, absolute module name) for every import in C{module}, read from C{path}."""
    parts = module_name(path).split(".")
    if os.path.basename(path) == "__init__.py":
        parts.append("__init__")
    for node in walk(module):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node, name
            for alias in node.names:
                yield node, f"{name}.{alias.name}"


def enclosing_functions(module: ast.Module) -> dict[int, str]:
    """id(node) -> name of the innermost function containing it."""
    owner: dict[int, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                else name
            owner[id(child)] = inner
            visit(child, inner)

    visit(module, "")
    return owner


def parameter_defaults(module: ast.Module) -> set[int]:
    """id() of every node that is (inside) a parameter's default value."""
    ids: set[int] = set()
    for node in walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    ids.update(id(n) for n in ast.walk(default))
    return ids


def docstring_nodes(module: ast.Module) -> set[int]:
    """id() of the docstring constants of the module, classes and functions."""
    ids = set()
    for node in walk(module):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
    return ids


def scan(paths: list[str], check: Callable[[str, ast.Module], Iterator[str]]) -> list[str]:
    """Every violation C{check} finds in C{paths}; a file that does not parse is one."""
    found: list[str] = []
    for path in paths:
        try:
            module = tree(path)
        except SyntaxError as e:
            found.append(f"{path}:{e.lineno}: does not parse: {e.msg}")
            continue
        found.extend(check(path, module))
    return found


class ConventionTestCase(SynchronousTestCase):
    """Asserts a list of violations is empty, printing all of them."""

    def assertNoViolations(self, violations: list[str], rule: str) -> None:  # noqa: N802
        """Fail with every violation of C{rule}, one per line."""
        if violations:
            self.fail(f"{rule}: {len(violations)} violation(s)\n  " + "\n  ".join(violations))


# -- 3.17: headers, module docstrings, size ---------------------------------------------


class HeaderTests(ConventionTestCase):
    """Every kea_ha_tw module starts with a test-case-name header and a docstring."""

    def test_test_case_name_header(self):
        """Line 1 of each non-package module names existing test modules."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            if os.path.basename(path) == "__init__.py":
                return
            first = source(path).split("\n", 1)[0]
            match = HEADER.match(first)
            if match is None:
                yield f"{path}:1: first line is not '# -*- test-case-name: tests.test_<x> -*-'"
                return
            for name in re.split(r"\s*,\s*", match.group("names")):
                target = os.path.join(REPO, *name.split(".")) + ".py"
                if not name.startswith("tests.") or not os.path.exists(target):
                    yield f"{path}:1: test-case-name {name} is not a module under tests/"

        self.assertNoViolations(scan(src_files(), check), "3.17 test-case-name header")

    def test_module_docstrings(self):
        """Every kea_ha_tw module, packages included, has a docstring."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            if not ast.get_docstring(module):
                yield f"{path}:1: no module docstring"

        self.assertNoViolations(scan(src_files(), check), "3.17 module docstring")

    def test_module_size(self):
        """
        No kea_ha_tw module is longer than MAX_MODULE_LINES; modules over
        WARN_MODULE_LINES are named in the failure message of this test
        only when some module is over the limit.
        """
        sizes = {path: len(source(path).splitlines()) for path in src_files()}
        over = [f"{path}: {n} lines (limit {MAX_MODULE_LINES})"
                for path, n in sizes.items() if n > MAX_MODULE_LINES]
        near = [f"{path}: {n} lines" for path, n in sizes.items()
                if WARN_MODULE_LINES < n <= MAX_MODULE_LINES]
        if over:
            over.append(f"(also above {WARN_MODULE_LINES}: {', '.join(near) or 'none'})")
        self.assertNoViolations(over, "3.17 module size")


# -- 3.1 / 3.2: reactor injection, no wall clock -------------------------------------------


def reactor_imports(path: str, module: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """(node, function it is in) for each import of the global reactor."""
    owners = enclosing_functions(module)
    for node in walk(module):
        hit = False
        if isinstance(node, ast.ImportFrom) and node.module == "twisted.internet" \
                and node.level == 0:
            hit = any(alias.name == "reactor" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "twisted.internet.reactor":
            hit = True
        elif isinstance(node, ast.Import):
            hit = any(alias.name == "twisted.internet.reactor" for alias in node.names)
        if hit:
            yield node, owners.get(id(node), "")


# Reading the clock or sleeping. perf_counter / monotonic measure a
# duration; they may be a parameter default (injected, replaceable in tests).
WALL_CLOCK = frozenset([
    "time.time", "time.time_ns", "time.sleep", "time.localtime", "time.gmtime", "time.ctime",
    "time.asctime", "time.strftime",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today",
])
DURATION_CLOCKS = frozenset([
    "time.perf_counter", "time.perf_counter_ns", "time.monotonic", "time.monotonic_ns",
    "time.process_time", "time.process_time_ns",
])


class ReactorAndTimeTests(ConventionTestCase):
    """Rules 3.1 and 3.2: the reactor is injected and time comes from a clock."""

    def test_global_reactor_only_in_make_service(self):
        """The global reactor is imported only inside kea_ha_tw/tap.py:makeService."""
        allowed = os.path.join("kea_ha_tw", "tap.py")
        seen_allowed = []

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node, function in reactor_imports(path, module):
                if path == allowed and function == "makeService":
                    seen_allowed.append(node)
                else:
                    yield at(path, node, f"global reactor imported (in {function or 'module'})")

        self.assertNoViolations(scan(src_files(), check), "3.1 reactor injection")
        self.assertEqual(len(seen_allowed), 1, "makeService imports the reactor exactly once")

    def test_no_wall_clock(self):
        """
        kea_ha_tw never reads the wall clock or sleeps; a duration clock
        (perf_counter, monotonic) appears only as a parameter default.
        """

        def check(path: str, module: ast.Module) -> Iterator[str]:
            aliases = import_aliases(module)
            defaults = parameter_defaults(module)
            for node in walk(module):
                if not isinstance(node, (ast.Name, ast.Attribute)):
                    continue
                name = qualified(node, aliases)
                if name in WALL_CLOCK:
                    yield at(path, node, f"{name} (use the injected clock or an explicit now)")
                elif name in DURATION_CLOCKS and id(node) not in defaults:
                    yield at(path, node, f"{name} outside a parameter default (inject it)")

        self.assertNoViolations(scan(src_files(), check), "3.2 no wall clock")

    def test_no_reactor_none_fallback(self):
        """No kea_ha_tw function takes C{reactor=None} or C{clock=None} (inject, no fallback)."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node in walk(module):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                args = node.args
                positional = [*args.posonlyargs, *args.args]
                pairs = list(zip(positional[len(positional) - len(args.defaults):],
                                 args.defaults, strict=True))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                          if d is not None]
                for arg, default in pairs:
                    if arg.arg in ("reactor", "clock") and isinstance(default, ast.Constant) \
                            and default.value is None:
                        yield at(path, node, f"{node.name}({arg.arg}=None)")

        self.assertNoViolations(scan(src_files(), check), "3.1 no reactor=None fallback")


# -- 3.7: logging --------------------------------------------------------------------------

LOG_METHODS = frozenset(["debug", "info", "warn", "error", "critical", "failure", "emit"])
LOGGER_NAMES = re.compile(r"^_?(log|logger)$")


def is_logger(node: ast.AST) -> bool:
    """C{log}, C{_log}, C{self._log}, C{cls._log}, C{Class._log}, ..."""
    if isinstance(node, ast.Name):
        return bool(LOGGER_NAMES.match(node.id))
    if isinstance(node, ast.Attribute):
        return bool(LOGGER_NAMES.match(node.attr))
    return False


def formatted_text(node: ast.AST) -> str | None:
    """What is wrong with a log template C{node}, or None when it is a plain template."""
    if isinstance(node, ast.JoinedStr):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return "%-formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return "string concatenation"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "format":
        return "str.format"
    return None


class LoggingTests(ConventionTestCase):
    """Rule 3.7: structured twisted.logger events only."""

    def test_no_print_or_other_logging(self):
        """No print(), stdlib logging or legacy twisted.python.log in kea_ha_tw."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node in walk(module):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                        and node.func.id == "print":
                    yield at(path, node, "print()")
            for node, name in imported_modules(module, path):
                if name == "logging" or name.startswith("logging."):
                    yield at(path, node, f"stdlib logging ({name})")
                if name == "twisted.python.log" or name.startswith("twisted.python.log."):
                    yield at(path, node, f"legacy twisted.python.log ({name})")

        self.assertNoViolations(scan(src_files(), check), "3.7 logging")

    def test_log_templates_are_templates(self):
        """Log calls pass a PEP 3101 template, never an f-string, %, + or .format()."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node in walk(module):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in LOG_METHODS and is_logger(node.func.value)):
                    continue
                candidates = list(node.args[:2] if node.func.attr == "failure" else node.args[:1])
                candidates += [k.value for k in node.keywords if k.arg == "format"]
                for arg in candidates:
                    problem = formatted_text(arg)
                    if problem:
                        yield at(path, node, f"{problem} in log.{node.func.attr}()")

        self.assertNoViolations(scan(src_files(), check), "3.7 log templates")


# -- 3.9 / 3.11 / 3.13 / 3.14 / 3.12: banned APIs and layering -------------------------------

BANNED_NAMES = {
    "MethodicalMachine": "3.14 use TypeMachineBuilder, or an enum + pure function",
    "LoopingCall": "3.14 re-arm with clock.callLater after completion",
    "inlineCallbacks": "3.11 use async def + Deferred.fromCoroutine",
    "gatherResults": "3.11 use DeferredList(consumeErrors=True) and decide per peer",
    "DummyRequest": "3.12 test through StubTreq",
}
TREQ_VERBS = frozenset(["get", "post", "put", "delete", "patch", "head", "request"])

PURE_MODULES = [os.path.join("kea_ha_tw", *p.split("/")) for p in (
    "dhcp/codec.py", "dhcp/options.py", "dhcp/allocation.py", "leases/model.py",
    "leases/csvformat.py", "ha/states.py", "ha/scopes.py", "commands/envelope.py",
    "config/model.py", "config/types.py",
)]


def banned_uses(path: str, module: ast.Module) -> Iterator[str]:
    """Banned names, klein, module-level treq calls, treq timeout= without reactor=."""
    aliases = import_aliases(module)
    for node in walk(module):
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.alias):
            name = node.name.rsplit(".", 1)[-1]
        if name in BANNED_NAMES:
            yield at(path, node, f"{name} ({BANNED_NAMES[name]})")
    for node, imported in imported_modules(module, path):
        if imported == "klein" or imported.startswith("klein."):
            yield at(path, node, "klein (3.12 plain twisted.web Resource)")
    for node in walk(module):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr in TREQ_VERBS and qualified(node.func.value, aliases) == "treq":
            yield at(path, node, f"treq.{node.func.attr}() (3.13 use the injected HTTP client)")
        keywords = {k.arg for k in node.keywords}
        if node.func.attr in TREQ_VERBS and "timeout" in keywords and "reactor" not in keywords:
            yield at(path, node, f".{node.func.attr}(timeout=) without reactor= (3.11 addTimeout)")


class BannedAPITests(ConventionTestCase):
    """Rules 3.11-3.14: APIs we do not use."""

    def test_source(self):
        """kea_ha_tw uses none of the banned APIs."""
        self.assertNoViolations(scan(src_files(), banned_uses), "banned APIs in kea_ha_tw")

    def test_tests_use_no_klein_or_dummy_request(self):
        """tests/ uses neither klein nor DummyRequest (3.12)."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for violation in banned_uses(path, module):
                if "klein" in violation or "DummyRequest" in violation:
                    yield violation

        self.assertNoViolations(scan(test_files(), check), "3.12 in tests")


class LayeringTests(ConventionTestCase):
    """Rule 3.9: a pure core, and dhcp does not know about HA."""

    def test_pure_modules(self):
        """The pure modules import nothing from twisted.internet."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node, name in imported_modules(module, path):
                if name == "twisted.internet" or name.startswith("twisted.internet."):
                    yield at(path, node, f"imports {name}")

        for path in PURE_MODULES:
            self.assertTrue(os.path.exists(os.path.join(REPO, path)), path)
        self.assertNoViolations(scan(PURE_MODULES, check), "3.9 pure modules")

    def test_dhcp_does_not_import_ha(self):
        """No module of kea_ha_tw.dhcp imports kea_ha_tw.ha (HA plugs in through IDHCPHooks)."""
        dhcp = [p for p in src_files() if p.startswith(os.path.join("kea_ha_tw", "dhcp") + os.sep)]

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node, name in imported_modules(module, path):
                if name == "kea_ha_tw.ha" or name.startswith("kea_ha_tw.ha."):
                    yield at(path, node, f"imports {name}")

        self.assertNoViolations(scan(dhcp, check), "3.9 dhcp -> ha")

    def test_mode_labels_only_in_policy_code(self):
        """Mode labels appear as strings only in config/, ha/policies.py and ha/states.py (3.6)."""
        labels = frozenset(["load-balancing", "hot-standby", "passive-backup"])
        allowed = (os.path.join("kea_ha_tw", "config") + os.sep,
                   os.path.join("kea_ha_tw", "ha", "policies.py"),
                   os.path.join("kea_ha_tw", "ha", "states.py"))

        def check(path: str, module: ast.Module) -> Iterator[str]:
            if path.startswith(allowed):
                return
            docstrings = docstring_nodes(module)
            for node in walk(module):
                if isinstance(node, ast.Constant) and node.value in labels \
                        and id(node) not in docstrings:
                    yield at(path, node, f"mode label {node.value!r} (ask the IHAModePolicy)")

        self.assertNoViolations(scan(src_files(), check), "3.6 mode labels")


# -- 3.10: errors --------------------------------------------------------------------------


def broad_handler(handler: ast.ExceptHandler) -> bool:
    """True for C{except:}, C{except Exception} and C{except BaseException} (also in tuples)."""
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names)


def handles_visibly(handler: ast.ExceptHandler) -> bool:
    """
    The handler re-raises (or translates), logs what it caught, or hands
    it on as a C{Failure()} (Twisted's way to pass the error to an errback).
    """
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "Failure" and not node.args:
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in LOG_METHODS and is_logger(node.func.value):
            return True
    return False


class ErrorTests(ConventionTestCase):
    """Rule 3.10: one hierarchy; broad catches only at logged boundaries."""

    def test_no_raise_exception(self):
        """kea_ha_tw never raises bare Exception (use the KeaHAError hierarchy)."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node in walk(module):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                    if isinstance(exc, ast.Name) and exc.id in ("Exception", "BaseException"):
                        yield at(path, node, f"raise {exc.id}")

        self.assertNoViolations(scan(src_files(), check), "3.10 raise Exception")

    def test_broad_except_is_logged_or_reraised(self):
        """Every except Exception/BaseException/bare except re-raises or logs."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node in walk(module):
                if isinstance(node, ast.ExceptHandler) and broad_handler(node) \
                        and not handles_visibly(node):
                    yield at(path, node, "broad except that neither logs nor re-raises")

        self.assertNoViolations(scan(src_files(), check), "3.10 broad except")


# -- 3.3 / 3.4: unit tests -----------------------------------------------------------------

REAL_IO_CALLS = frozenset(["listenUDP", "listenTCP", "connectTCP", "deferLater"])


class UnitTestRulesTests(ConventionTestCase):
    """Rules 3.3 and 3.4, over tests/ without integration/ and fakes.py."""

    def test_no_real_io_or_time(self):
        """Unit tests open no sockets, sleep never and do not import the global reactor."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            aliases = import_aliases(module)
            for node in walk(module):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else \
                        func.id if isinstance(func, ast.Name) else None
                    if name in REAL_IO_CALLS:
                        yield at(path, node, f"{name}()")
                    if qualified(func, aliases) == "time.sleep":
                        yield at(path, node, "time.sleep()")
            for node, _function in reactor_imports(path, module):
                yield at(path, node, "global reactor import")

        self.assertNoViolations(scan(unit_test_files(), check), "3.3 unit tests")

    def test_synchronous_test_case(self):
        """Unit test classes derive from SynchronousTestCase, not trial's or pyunit's TestCase."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            aliases = import_aliases(module)
            for node in walk(module):
                if isinstance(node, ast.ClassDef):
                    for base in node.bases:
                        name = qualified(base, aliases)
                        if name in ("twisted.trial.unittest.TestCase", "unittest.TestCase"):
                            yield at(path, node, f"{node.name} derives from {name}")

        self.assertNoViolations(scan(unit_test_files(), check), "3.3 SynchronousTestCase")

    def test_flush_logged_errors_names_a_type(self):
        """flushLoggedErrors() is always given the expected error type(s) (3.4)."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node in walk(module):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "flushLoggedErrors" and not node.args:
                    yield at(path, node, "flushLoggedErrors() without an error type")

        self.assertNoViolations(scan(test_files(), check), "3.4 flushLoggedErrors")


# -- 3.17: docstrings ----------------------------------------------------------------------


def is_test_method(node: ast.AST) -> bool:
    """A method whose name starts with C{test}."""
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
        and node.name.startswith("test")


class DocstringTests(ConventionTestCase):
    """Rule 3.17: docstrings where readers and trial need them."""

    def test_every_test_method_has_a_docstring(self):
        """Every test method in tests/ (unit and integration) states its intent."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for cls in walk(module):
                if isinstance(cls, ast.ClassDef):
                    for node in cls.body:
                        if is_test_method(node) and not ast.get_docstring(node):
                            yield at(path, node, f"{cls.name}.{node.name} has no docstring")

        self.assertNoViolations(scan(test_files(), check), "3.17 test docstrings")

    def test_every_public_class_has_a_docstring(self):
        """Every public class in kea_ha_tw (nested ones included) has a docstring."""

        def check(path: str, module: ast.Module) -> Iterator[str]:
            for node in walk(module):
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_") \
                        and not ast.get_docstring(node):
                    yield at(path, node, f"class {node.name} has no docstring")

        self.assertNoViolations(scan(src_files(), check), "3.17 class docstrings")

    def test_every_public_function_has_a_docstring(self):
        """
        Every public module-level function and public method of a public
        class in kea_ha_tw has a docstring (dunder methods excepted).
        """

        def check(path: str, module: ast.Module) -> Iterator[str]:
            functions = (ast.FunctionDef, ast.AsyncFunctionDef)
            for node in module.body:
                if isinstance(node, functions) and not node.name.startswith("_") \
                        and not ast.get_docstring(node):
                    yield at(path, node, f"function {node.name} has no docstring")
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                    for member in node.body:
                        if isinstance(member, functions) and not member.name.startswith("_") \
                                and not ast.get_docstring(member):
                            yield at(path, member, f"{node.name}.{member.name} has no docstring")

        self.assertNoViolations(scan(src_files(), check), "3.17 function docstrings")


class ScannerTests(SynchronousTestCase):
    """The checks above find what they look for (they are not vacuous)."""

    def checks(self, text: str, check: Callable[[str, ast.Module], Iterator[str]]) -> list[str]:
        """Run C{check} on C{text} as if it were kea_ha_tw/example.py."""
        return list(check(os.path.join("kea_ha_tw", "example.py"), ast.parse(text)))

    def test_banned_uses(self):
        """banned_uses flags LoopingCall, treq.post, klein and a treq timeout without reactor."""
        text = (
            "import treq\nfrom twisted.internet.task import LoopingCall\nimport klein\n"
            "def f(client):\n    treq.post('u')\n    client.get('u', timeout=3)\n"
            "    client.get('u', timeout=3, reactor=r)\n"
        )
        found = self.checks(text, banned_uses)
        self.assertEqual(len(found), 4, found)
        self.assertTrue(any("LoopingCall" in v for v in found))
        self.assertTrue(any("treq.post" in v for v in found))
        self.assertTrue(any("klein" in v for v in found))
        self.assertTrue(any("timeout=" in v for v in found))

    def test_reactor_imports(self):
        """reactor_imports sees module-level and function-level imports, with their owner."""
        text = ("from twisted.internet import reactor\n"
                "def makeService(o):\n    from twisted.internet import reactor as r\n")
        found = [(n.lineno, owner) for n, owner in reactor_imports("x.py", ast.parse(text))]
        self.assertEqual(sorted(found), [(1, ""), (3, "makeService")])

    def test_wall_clock_resolution(self):
        """Aliased imports of time and datetime resolve to the qualified names."""
        module = ast.parse("from time import perf_counter as pc\nimport datetime as dt\n"
                           "def f(w=pc):\n    dt.datetime.now()\n")
        aliases = import_aliases(module)
        defaults = parameter_defaults(module)
        names = {(qualified(n, aliases), id(n) in defaults) for n in walk(module)
                 if isinstance(n, (ast.Name, ast.Attribute)) and qualified(n, aliases)}
        self.assertIn(("time.perf_counter", True), names)
        self.assertIn(("datetime.datetime.now", False), names)

    def test_formatted_log_text(self):
        """f-strings, %, + and .format() in a log template are recognised."""
        for text, expected in (("f'{x}'", "f-string"), ("'%s' % x", "%-formatting"),
                               ("'a' + x", "string concatenation"),
                               ("'{}'.format(x)", "str.format"), ("'{x}'", None)):
            self.assertEqual(formatted_text(ast.parse(text, mode="eval").body), expected, text)

    def test_broad_handlers(self):
        """Swallowing handlers are found; logging, re-raising and Failure() ones are not."""
        module = ast.parse(
            "try:\n    f()\nexcept Exception:\n    pass\n"
            "try:\n    f()\nexcept (ValueError, BaseException):\n    x = 1\n"
            "try:\n    f()\nexcept:\n    self._log.failure('f failed')\n"
            "try:\n    f()\nexcept Exception:\n    raise\n"
            "try:\n    f()\nexcept Exception:\n    d.errback(Failure())\n"
            "try:\n    f()\nexcept ValueError:\n    pass\n"
        )
        handlers = [n for n in walk(module) if isinstance(n, ast.ExceptHandler)]
        self.assertEqual([broad_handler(h) for h in handlers], [True] * 5 + [False])
        self.assertEqual([handles_visibly(h) for h in handlers[:5]],
                         [False, False, True, True, True])

    def test_relative_imports_resolve(self):
        """imported_modules turns C{from ..ha import x} in kea_ha_tw.dhcp.y into kea_ha_tw.ha."""
        server = os.path.join("kea_ha_tw", "dhcp", "server.py")
        package = os.path.join("kea_ha_tw", "dhcp", "__init__.py")
        names = [n for _, n in imported_modules(ast.parse("from ..ha import states\n"), server)]
        self.assertIn("kea_ha_tw.ha", names)
        self.assertIn("kea_ha_tw.ha.states", names)
        names = [n for _, n in imported_modules(ast.parse("from . import codec\n"), package)]
        self.assertEqual(names, ["kea_ha_tw.dhcp", "kea_ha_tw.dhcp.codec"])
