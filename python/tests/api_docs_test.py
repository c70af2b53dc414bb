"""The public API documents itself: every public name has a docstring, and the examples in the
docstrings (doctest's `>>>` lines) run and print what they show."""

import ast
import doctest
import importlib
import inspect
import pkgutil
import textwrap

import pytest

import pathways as pw


def public_modules():
    """pathways and the public modules it exports (pw.numpy, pw.lax, ...)."""
    return [pw] + [getattr(pw, n) for n in pw.__all__ if inspect.ismodule(getattr(pw, n))]


def all_modules():
    """Every Python module of the package (private ones define most public names)."""
    names = [m.name for m in pkgutil.iter_modules(pw.__path__) if m.name != "_pathways"]
    return [pw] + [importlib.import_module(f"pathways.{n}") for n in sorted(names)]


def public_names(module):
    """The names a module exports: its __all__, else what it defines without a leading _."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]


def own_doc(obj):
    """The object's own docstring (not one a class inherits from a base)."""
    if inspect.isclass(obj):
        return vars(obj).get("__doc__") or ""
    return getattr(obj, "__doc__", None) or ""


def members(cls):
    """The public methods and properties a class defines itself."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, value


def documented_objects():
    """(qualified name, object) of every public module, class, function, method and property."""
    seen = set()
    for module in public_modules():
        yield module.__name__, module
        for name in public_names(module):
            obj = getattr(module, name)
            if not (inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj)):
                continue  # data (dtypes, constants) carries no docstring of its own
            if id(obj) in seen or inspect.ismodule(obj):
                continue
            seen.add(id(obj))
            yield f"{module.__name__}.{name}", obj
            if inspect.isclass(obj) and obj.__module__.startswith("pathways"):
                for member, value in members(obj):
                    yield f"{module.__name__}.{name}.{member}", value


def test_the_api_is_not_empty():
    names = [n for n, _ in documented_objects()]
    assert len(names) > 150, names
    for expected in ("pathways.pmap", "pathways.Array.block_until_ready", "pathways.numpy.sum",
                     "pathways.lax.psum", "pathways.optimizers.adamw", "pathways.checkpoint.save"):
        assert expected in names


def test_every_public_name_has_a_docstring():
    missing = [name for name, obj in documented_objects() if not own_doc(obj).strip()]
    assert not missing, f"public names without a docstring: {missing}"


def undocumented_attributes(cls):
    """The public attributes a class body annotates without a docstring after them."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    missing = []
    for i, node in enumerate(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and not node.target.id.startswith("_")):
            after = body[i + 1] if i + 1 < len(body) else None
            if not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                missing.append(f"{cls.__module__}.{cls.__qualname__}.{node.target.id}")
    return missing


def test_every_public_attribute_has_a_docstring():
    # (The exception types come from the compiled extension: no Python source.)
    classes = {id(obj): obj for _, obj in documented_objects()
               if inspect.isclass(obj) and obj.__module__.startswith("pathways")
               and not issubclass(obj, BaseException)}
    assert len(classes) > 10
    missing = [name for cls in classes.values() for name in undocumented_attributes(cls)]
    assert not missing, f"public attributes without a docstring: {missing}"


def test_every_public_callable_is_annotated():
    """Public functions and methods declare their return type (mypy --strict checks the rest)."""
    missing = []
    for name, obj in documented_objects():
        fn = obj.fget if isinstance(obj, property) else obj
        if inspect.isfunction(fn) and "return" not in fn.__annotations__:
            missing.append(name)
    assert not missing, f"public functions without a return annotation: {missing}"


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module.__name__} failed"
