"""The package's shape: a small public surface over a private core whose tests mirror it, no import
cycle (lazy imports included), the built-in error classes named in one module, other libraries'
internals read only in the modules named for them, and the public API is what the package
docstring lists."""

import ast
import os
import re

import pytest

import ray_graded_penalty

PACKAGE = os.path.dirname(os.path.abspath(ray_graded_penalty.__file__))
ROOT = os.path.dirname(PACKAGE)
#: The only modules that read another library's private attributes, each its own library's:
#: the package's backends and Ray module, and the research prototypes that subclass Optuna's
#: and HyperOpt's TPE (issue 27's grade weights among them).
INTERNALS = {"ray_graded_penalty/backends/optuna.py", "ray_graded_penalty/backends/hyperopt.py",
             "ray_graded_penalty/_core/ray_internals.py", "benchmarks/research/optuna_variants.py",
             "benchmarks/research/hyperopt_variants.py", "benchmarks/research/grade_weights.py",
             "tests/core/test_ray_internals.py"}  # and the tests' own module for Ray's, which builds its errors
PUBLIC_UNDERSCORE = {"_replace", "_asdict", "_fields", "_exit"}  # namedtuple's API, os._exit


def _modules(top=PACKAGE):
    for folder, _, files in os.walk(top):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)
                dotted = "ray_graded_penalty." + rel[:-3].replace(os.sep, ".")
                yield rel, dotted.removesuffix(".__init__"), ast.parse(open(path).read())


def _imports(tree, module):
    """Every package module ``module`` imports, at the top or inside a function (names imported
    for type annotations only, under ``if TYPE_CHECKING:``, are not imports at run time)."""
    found = set()
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ray_graded_penalty"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ray_graded_penalty"))
    return found - {module}


def test_no_import_cycle():
    modules = {dotted: tree for _, dotted, tree in _modules()}
    graph = {m: {i for i in _imports(t, m) if i in modules and i != "ray_graded_penalty"} for m, t in modules.items()}
    state = {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            assert state.get(n) != "open", f"import cycle: {' -> '.join(path + [m, n])}"
            if n not in state:
                visit(n, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


#: The public top-level modules and subpackages: what users import. Everything else is private.
PUBLIC = {"searcher", "callback", "timeout", "policy", "slo", "report", "plots", "compat", "demo", "backends",
          "serving"}


def test_a_small_public_surface_over_a_private_core():
    top = {name[:-3] if name.endswith(".py") else name for name in os.listdir(PACKAGE)
           if (name.endswith(".py") or os.path.isfile(os.path.join(PACKAGE, name, "__init__.py")))
           and not name.startswith("_")}
    assert top == PUBLIC and len(top) <= 12


def _tested(folder, tests):
    names = {name[:-3] for name in os.listdir(os.path.join(PACKAGE, folder)) if name.endswith(".py")}
    return {name for name in names - {"__init__"} if not os.path.exists(os.path.join(ROOT, "tests", tests,
                                                                                     f"test_{name}.py"))}


def test_every_core_backend_and_serving_module_has_its_own_test_file():
    """tests/ mirrors the package: tests/core/test_judge.py tests _core/judge.py, and so on."""
    assert _tested("_core", "core") == set()
    assert _tested("backends", "backends") == set()
    assert _tested("serving", "serving") == {"launch", "client", "plan"}  # exercised through process, load, trainable
    assert {name for name in PUBLIC if not name.startswith(("backends", "serving"))
            and not os.path.exists(os.path.join(ROOT, "tests", f"test_{name}.py"))} == set()


def test_the_built_in_error_classes_are_named_in_one_module():
    """Only _core/outcomes.py writes a built-in class's name as a string; the default policy's
    keywords (which may spell a name as a word to match) and the old module names are not classes."""
    from ray_graded_penalty._core.outcomes import ErrorClass

    found = {}
    for rel, _, tree in _modules():
        if rel in (os.path.join("_core", "outcomes.py"),):
            continue
        skip = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ErrorModifier":
                skip.update(id(c) for arg in node.args[1:2] for c in ast.walk(arg))
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "OLD_MODULES":
                skip.update(id(c) for c in ast.walk(node.value))
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get") or isinstance(node,
                                                                                                  ast.Subscript):
                skip.update(id(c) for c in ast.walk(node.args[0] if isinstance(node, ast.Call) else node.slice))
        found.update({f"{rel}:{n.lineno}": n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                      and n.value in ErrorClass.ALL and id(n) not in skip})
    assert found == {}


def _private(name):
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORE


def test_private_attributes_of_other_objects_are_read_only_in_the_modules_named_for_their_library():
    """In the package, its tests and its benchmarks: ``x._name`` for any ``x`` but ``self``,
    and imports from private modules or of private names of other libraries."""
    reads = {}
    for top in (PACKAGE, os.path.join(ROOT, "tests"), os.path.join(ROOT, "benchmarks")):
        for rel, _, tree in _modules(top):
            rel = os.path.relpath(os.path.join(top, rel), ROOT)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and _private(node.attr)
                        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                    reads.setdefault(rel, set()).add(ast.unparse(node))
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr",
                                                                                                        "setattr")
                        and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                        and isinstance(node.args[1].value, str) and _private(node.args[1].value)
                        and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "self")):
                    reads.setdefault(rel, set()).add(ast.unparse(node))
                if (isinstance(node, ast.ImportFrom) and node.module
                        and node.module.split(".")[0] in ("ray", "optuna", "hyperopt")
                        and (any(_private(p) for p in node.module.split("."))
                             or any(_private(a.name) for a in node.names))):
                    reads.setdefault(rel, set()).add(node.module)
    assert {rel: names for rel, names in reads.items() if rel not in INTERNALS} == {}


def test_the_public_api_is_what_the_docstring_lists():
    listed = set()
    for line in ray_graded_penalty.__doc__.split("Public API:")[1].splitlines():
        head = line.strip().split(":")[0]
        listed.update(name.strip() for name in head.split(",") if name.strip())
    assert listed == set(ray_graded_penalty.__all__)


def test_every_folder_of_the_package_is_a_package_that_setuptools_finds():
    """A folder without ``__init__.py`` works from a checkout but is left out of a wheel."""
    find_packages = pytest.importorskip("setuptools").find_packages
    found = set(find_packages(ROOT, include=["ray_graded_penalty*"]))
    folders = {os.path.relpath(folder, ROOT).replace(os.sep, ".") for folder, _, files in os.walk(PACKAGE)
               if any(f.endswith(".py") for f in files)}
    assert folders <= found, folders - found


def _deprecations():
    """(module, message text) of every ``warnings.warn(..., DeprecationWarning)`` in the package."""
    for rel, _, tree in _modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and ast.unparse(node.func) == "warnings.warn" and len(node.args) > 1
                    and ast.unparse(node.args[1]) == "DeprecationWarning"):
                parts = node.args[0].values if isinstance(node.args[0], ast.JoinedStr) else [node.args[0]]
                yield rel, "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))


def test_every_deprecation_says_the_later_release_it_goes_in_and_the_changelog_lists_it():
    """Deprecation before removal: each warning names a release after this one (a warning saying
    "goes in 0.6" in 0.6 is a promise broken), and CHANGELOG.md's deprecations say it too."""
    from packaging.version import Version

    release = Version(ray_graded_penalty.__version__).release[:2]
    found = list(_deprecations())
    assert len(found) >= 4  # the old module names, .inner, Grade.modifier, max_tokens without prompts
    changelog = open(os.path.join(ROOT, "CHANGELOG.md")).read()
    for rel, message in found:
        goes = re.search(r"goes in (\d+)\.(\d+)", message)
        assert goes, f"{rel}: a deprecation that does not say when it goes: {message!r}"
        assert (int(goes[1]), int(goes[2])) > release, f"{rel}: {message!r} in {ray_graded_penalty.__version__}"
        assert f"goes in {goes[1]}.{goes[2]}" in changelog, f"CHANGELOG.md names no removal in {goes[0]}"
