"""Tests of Registry and Registered."""

from __future__ import annotations

import enum
import sys
from abc import ABC, ABCMeta, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.patterns import (
    DuplicateRegistrationError,
    NotRegisteredError,
    Registered,
    Registry,
)
from tests.conftest import raise_first, run_threads


class Kind(enum.Enum):
    EMAIL = "email"
    SMS = "sms"


class TestMapping:
    def test_add_and_read(self) -> None:
        """add registers; [], get, in, len, names and iteration read it back in order."""
        registry: Registry[int] = Registry("numbers")
        registry.add("one", 1)
        registry.add(Kind.EMAIL, 2)
        assert registry["one"] == 1
        assert registry[Kind.EMAIL] == 2
        assert registry.get("two") is None
        assert registry.get("two", 0) == 0
        assert "one" in registry
        assert "two" not in registry
        assert len(registry) == 2
        assert registry.names() == ("one", Kind.EMAIL)
        assert list(registry) == ["one", Kind.EMAIL]
        assert dict(registry.items()) == {"one": 1, Kind.EMAIL: 2}
        assert repr(registry) == "Registry('numbers', names=['one', Kind.EMAIL])"

    def test_unknown_name_lists_known(self) -> None:
        """An unknown name raises NotRegisteredError (a LookupError) listing the known names."""
        registry: Registry[int] = Registry("numbers")
        registry.add("one", 1)
        registry.add(Kind.SMS, 2)
        with pytest.raises(LookupError) as caught:
            registry["two"]
        error = caught.value
        assert isinstance(error, NotRegisteredError)
        assert isinstance(error, KeyError)
        assert str(error) == "numbers: nothing registered under 'two'; known: 'one', Kind.SMS"
        assert (error.registry, error.key, error.known) == ("numbers", "two", ("one", Kind.SMS))

    def test_unknown_name_in_empty_registry(self) -> None:
        """An empty registry says so."""
        with pytest.raises(NotRegisteredError, match="known: none"):
            Registry[int]()["x"]

    def test_remove(self) -> None:
        """remove unregisters and returns the object; an unknown name raises."""
        registry: Registry[int] = Registry()
        registry.add("one", 1)
        assert registry.remove("one") == 1
        assert "one" not in registry
        with pytest.raises(NotRegisteredError, match="'one'"):
            registry.remove("one")

    def test_iteration_is_a_snapshot(self) -> None:
        """Registering while iterating does not break the loop."""
        registry: Registry[int] = Registry()
        registry.add("a", 1)
        for name in registry:
            registry.add(f"{name}-copy", 2)
        assert registry.names() == ("a", "a-copy")

    def test_unhashable_key(self) -> None:
        """An unhashable key is a TypeError."""
        with pytest.raises(TypeError):
            Registry[int]().add([], 1)  # type: ignore[arg-type]  # on purpose

    def test_name_must_be_str(self) -> None:
        """The registry's name must be a str."""
        with pytest.raises(TypeError, match="name must be a str"):
            Registry(3)  # type: ignore[arg-type]


class TestDuplicates:
    def test_duplicate_raises_naming_both(self) -> None:
        """A taken name raises DuplicateRegistrationError naming both objects (seed defect)."""
        registry: Registry[type[object]] = Registry("plugins")

        class First:
            pass

        class Second:
            pass

        registry.add("p", First)
        with pytest.raises(DuplicateRegistrationError) as caught:
            registry.add("p", Second)
        message = str(caught.value)
        assert "First" in message
        assert "Second" in message
        assert "replace=True" in message
        assert isinstance(caught.value, ValueError)
        assert (caught.value.existing, caught.value.new) == (First, Second)
        assert registry["p"] is First

    def test_replace(self) -> None:
        """replace=True replaces the registered object."""
        registry: Registry[int] = Registry()
        registry.add("n", 1)
        registry.add("n", 2, replace=True)
        assert registry["n"] == 2

    def test_same_object_again_is_no_duplicate(self) -> None:
        """Registering the same object under the same name again does nothing."""
        registry: Registry[object] = Registry()
        marker = object()
        registry.add("m", marker)
        registry.add("m", marker)
        assert len(registry) == 1

    def test_duplicate_of_non_class(self) -> None:
        """Objects without a qualified name are shown by their repr."""
        registry: Registry[int] = Registry("numbers")
        registry.add("n", 1)
        with pytest.raises(DuplicateRegistrationError, match="registered to 1; cannot register 2"):
            registry.add("n", 2)


class TestDecorator:
    def test_register_with_enum_key(self) -> None:
        """@register(member) registers under an enum member and returns the class unchanged."""
        registry: Registry[type[object]] = Registry()

        @registry.register(Kind.EMAIL)
        class EmailSender:
            pass

        assert registry[Kind.EMAIL] is EmailSender
        assert isinstance(registry.create(Kind.EMAIL), EmailSender)

    def test_register_defaults_to_name(self) -> None:
        """@register() uses the object's __name__."""
        registry: Registry[Any] = Registry()

        @registry.register()
        def handler() -> int:
            return 1

        assert registry.create("handler") == 1

    def test_register_needs_a_name(self) -> None:
        """An object without __name__ needs a key."""
        registry: Registry[Any] = Registry("r")
        with pytest.raises(TypeError, match="give a key"):
            registry.register()(3)

    def test_register_duplicate(self) -> None:
        """@register on a taken name raises unless replace=True."""
        registry: Registry[Any] = Registry()
        registry.add("f", len)
        with pytest.raises(DuplicateRegistrationError):
            registry.register("f")(repr)
        registry.register("f", replace=True)(repr)
        assert registry["f"] is repr

    def test_create_passes_arguments(self) -> None:
        """create calls the registered factory with the arguments."""
        registry: Registry[Any] = Registry()
        registry.add("pair", lambda a, b=0: (a, b))
        assert registry.create("pair", 1, b=2) == (1, 2)
        with pytest.raises(NotRegisteredError):
            registry.create("missing")


class TestRegistered:
    def test_abc_base_works(self) -> None:
        """An ABC base registers its subclasses: no metaclass conflict (seed defect)."""
        plugins: Registry[type[Any]] = Registry("plugins")

        class Plugin(Registered, ABC, registry=plugins):
            @abstractmethod
            def send(self, message: str) -> str: ...

        class EmailPlugin(Plugin):
            def send(self, message: str) -> str:
                return f"email {message}"

        assert type(Plugin) is ABCMeta
        assert plugins.names() == ("EmailPlugin",)
        assert plugins.create("EmailPlugin").send("hi") == "email hi"
        assert EmailPlugin.registry is plugins

    def test_seed_metaclass_conflicts_with_abc(self) -> None:
        """The seed's metaclass design cannot combine with ABC; ours can (see above)."""

        class RegistryMeta(type):
            pass

        with pytest.raises(TypeError, match="metaclass conflict"):

            class Plugin(ABC, metaclass=RegistryMeta):  # type: ignore[metaclass]  # on purpose
                pass

    def test_key_abstract_and_replace(self) -> None:
        """key= names the entry, abstract=True skips a class, replace=True replaces."""
        plugins: Registry[type[Any]] = Registry("plugins")

        class Plugin(Registered, registry=plugins):
            pass

        class Middle(Plugin, abstract=True):
            pass

        class Fast(Middle, key=Kind.SMS):
            pass

        assert plugins.names() == (Kind.SMS,)
        with pytest.raises(DuplicateRegistrationError, match="Fast"):

            class Slow(Plugin, key=Kind.SMS):
                pass

        class Faster(Plugin, key=Kind.SMS, replace=True):
            pass

        assert plugins[Kind.SMS] is Faster

    def test_duplicate_class_name(self) -> None:
        """Two subclasses with one class name are a duplicate, not a silent overwrite."""
        plugins: Registry[type[Any]] = Registry("plugins")

        class Plugin(Registered, registry=plugins):
            pass

        class Twin(Plugin):
            pass

        first = Twin
        with pytest.raises(DuplicateRegistrationError):

            class Twin(Plugin):  # type: ignore[no-redef]  # the point of the test
                pass

        assert plugins["Twin"] is first

    def test_without_registry(self) -> None:
        """Subclassing Registered without naming a registry is a TypeError."""
        with pytest.raises(TypeError, match="without naming a registry"):

            class Orphan(Registered):
                pass

    def test_registry_must_be_a_registry(self) -> None:
        """registry= must be a Registry."""
        with pytest.raises(TypeError, match="registry must be a Registry"):

            class Bad(Registered, registry={}):  # type: ignore[arg-type]
                pass

    def test_other_init_subclass_keywords_pass_through(self) -> None:
        """Keywords for other bases' __init_subclass__ still reach them."""
        seen: list[str] = []
        plugins: Registry[type[Any]] = Registry()

        class Tagged:
            def __init_subclass__(cls, tag: str = "", **kwargs: Any) -> None:
                super().__init_subclass__(**kwargs)
                seen.append(tag)

        class Plugin(Registered, Tagged, registry=plugins, tag="base"):
            pass

        class Child(Plugin, tag="child"):
            pass

        assert seen == ["base", "child"]
        assert plugins["Child"] is Child


class TestThreads:
    def test_concurrent_registration(self, fast_switching: None) -> None:
        """100 threads registering one name: exactly one wins, the others get the error."""
        registry: Registry[int] = Registry()

        def register(index: int) -> bool:
            try:
                registry.add("shared", index)
            except DuplicateRegistrationError:
                return False
            registry.add(f"own-{index}", index)
            return True

        wins = raise_first(run_threads(100, register))
        assert wins.count(True) == 1
        assert len(registry) == 2


@pytest.fixture
def fake_distribution(tmp_path: Path) -> Iterator[str]:
    """Install a fake distribution with entry points on sys.path; yield its module name."""
    module = "pmp_fake_plugins"
    (tmp_path / f"{module}.py").write_text(
        "class SlackNotifier:\n"
        "    def send(self, text):\n"
        "        return 'slack ' + text\n"
        "def make_teams():\n"
        "    return 'teams'\n",
        encoding="utf-8",
    )
    info = tmp_path / "pmp_fake_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pmp-fake-plugins\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[pmp.test.notifiers]\n"
        f"slack = {module}:SlackNotifier\n"
        f"teams = {module}:make_teams\n"
        "[pmp.test.broken]\n"
        "broken = pmp_no_such_module:thing\n",
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield module
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module, None)


class TestEntryPoints:
    def test_load_entry_points(self, fake_distribution: str) -> None:
        """Entry points of a group are loaded and registered under their names."""
        registry: Registry[Any] = Registry("notifiers")
        assert registry.load_entry_points("pmp.test.notifiers") == ("slack", "teams")
        assert registry.create("slack").send("hi") == "slack hi"
        assert registry.create("teams") == "teams"
        assert registry["slack"].__module__ == fake_distribution

    def test_loading_twice_is_harmless(self, fake_distribution: str) -> None:
        """Loading a group again registers the same objects again: no duplicate."""
        registry: Registry[Any] = Registry()
        registry.load_entry_points("pmp.test.notifiers")
        assert registry.load_entry_points("pmp.test.notifiers") == ("slack", "teams")

    def test_entry_point_clashing_with_own_name(self, fake_distribution: str) -> None:
        """An entry point whose name is taken raises, unless replace=True."""
        registry: Registry[Any] = Registry()
        registry.add("slack", object)
        with pytest.raises(DuplicateRegistrationError, match="SlackNotifier"):
            registry.load_entry_points("pmp.test.notifiers")
        registry.load_entry_points("pmp.test.notifiers", replace=True)
        assert registry["slack"].__name__ == "SlackNotifier"

    def test_broken_entry_point_named(self, fake_distribution: str) -> None:
        """An entry point that fails to import raises with a note naming it."""
        registry: Registry[Any] = Registry()
        with pytest.raises(ImportError) as caught:
            registry.load_entry_points("pmp.test.broken")
        assert "entry point 'broken' (pmp.test.broken)" in caught.value.__notes__[0]

    def test_unknown_group(self) -> None:
        """A group nobody provides loads nothing."""
        assert Registry[Any]().load_entry_points("pmp.test.nobody") == ()
