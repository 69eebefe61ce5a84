"""Saved filters (issue 10.14): named, in the TUI's config file; saved from the log or the filter
bar, picked with @name in the bar, from the list (F) or the palette, deleted. Keys are typed at
once, with no pause, right after the key that opens an input."""

from __future__ import annotations

import json
import os

import pytest
from fake_proxy import FakeProxy
from pilot_wait import wait_for
from test_typing import type_now

from omproxy_tui.client.sources import SocketSource
from omproxy_tui.demo.canned import T0, canned_session
from omproxy_tui.tui.app import ActionsProvider, OmproxyApp
from omproxy_tui.tui.config import Config, ConfigError, config_path

pytestmark = pytest.mark.anyio

SIZE = (140, 40)


@pytest.fixture
async def proxy(sockdir):
    fake = FakeProxy(str(sockdir / "p.sock"), canned_session())
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def conf(tmp_path):
    return tmp_path / "omproxy-tui.json"  # the conftest points OMPROXY_TUI_CONFIG here


async def started(proxy, pilot) -> OmproxyApp:
    app = pilot.app
    n = sum(1 for f in proxy.backlog if f.get("type") == "message")
    await wait_for(pilot, lambda: len(app.store) == n)
    app.log_widget.focus()
    await pilot.pause()
    return app


def saved(conf) -> dict:
    return json.loads(conf.read_text())["filters"] if conf.exists() else {}


# ---- the config file ------------------------------------------------------------------------


def test_the_config_file_keeps_what_it_does_not_own(conf):
    assert config_path() == conf
    conf.write_text(json.dumps({"keys": {"stats": "S"}, "theme": "x"}))
    config = Config.load()
    assert config.keys == {"stats": "S"} and config.filters == {}
    config.save_filter("errors", "~e")
    config.save_filter("@slow-tools", "~m tools/call & ~slow")  # a leading @ is not part of the name
    assert json.loads(conf.read_text()) == {"keys": {"stats": "S"}, "theme": "x",
                                            "filters": {"errors": "~e", "slow-tools": "~m tools/call & ~slow"}}
    # another TUI saved one meanwhile: it is kept
    other = Config.load()
    other.save_filter("pings", "~m ping")
    assert config.delete_filter("errors") and not config.delete_filter("errors")
    assert saved(conf) == {"slow-tools": "~m tools/call & ~slow", "pings": "~m ping"}
    with pytest.raises(ValueError):
        config.save_filter("two words", "~e")


def test_a_config_file_that_is_not_json_is_reported_and_never_overwritten(conf):
    conf.write_text("{not json")
    config = Config.load()
    assert config.error and str(conf) in config.error and config.filters == {}
    with pytest.raises(ConfigError):
        config.save_filter("errors", "~e")
    assert conf.read_text() == "{not json"


def test_the_config_file_lives_under_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.delenv("OMPROXY_TUI_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config_path() == tmp_path / "cfg" / "omproxy" / "tui.json"
    Config.load().save_filter("e", "~e")
    assert json.loads((tmp_path / "cfg" / "omproxy" / "tui.json").read_text()) == {"filters": {"e": "~e"}}


# ---- the app --------------------------------------------------------------------------------


async def test_ctrl_s_saves_the_applied_filter_under_a_name_typed_at_once(proxy, conf):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        assert app.apply_filter("~m tools/call & ~e")
        await type_now(pilot, "ctrl+s", *"tool-errors", "enter")
        await wait_for(pilot, lambda: saved(conf) == {"tool-errors": "~m tools/call & ~e"}, what="saved")
        assert app.detail.display  # "d" of "errors" did not reach the log
        # saving another filter under the same name asks first
        assert app.apply_filter("~e")
        await type_now(pilot, "ctrl+s", *"tool-errors", "enter")
        await pilot.pause()
        assert saved(conf) == {"tool-errors": "~m tools/call & ~e"}
        await type_now(pilot, "enter")
        await wait_for(pilot, lambda: saved(conf) == {"tool-errors": "~e"}, what="replaced after a second Enter")


async def test_ctrl_s_in_the_filter_bar_saves_what_is_typed(proxy, conf):
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        await type_now(pilot, "slash", *"~m ping", "ctrl+s", *"pings", "enter")
        await wait_for(pilot, lambda: saved(conf) == {"pings": "~m ping"}, what="saved from the bar")


async def test_at_name_in_the_filter_bar_is_suggested_and_applies_the_saved_filter(proxy, conf):
    conf.write_text(json.dumps({"filters": {"pings": "~m ^ping$", "errors": "~e"}}))
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        await type_now(pilot, "slash", *"@pi")
        bar = app.filter_bar.input
        await wait_for(pilot, lambda: bar._suggestion == "@pings", what="@pings suggested")
        await type_now(pilot, "right", "enter")  # accept the suggestion, apply
        await wait_for(pilot, lambda: app.filter_text == "~m ^ping$", what="the saved filter applied")
        assert bar.value == "~m ^ping$" and app.view.indices
        assert all(app.store[i].method == "ping" for i in app.view.indices)
        assert app.filter_bar.history[-1] == "~m ^ping$"
        # an unknown name is refused as typed (not searched for as text)
        await type_now(pilot, "backslash", "slash", *"@nope", "enter")
        await wait_for(pilot, lambda: "no saved filter named 'nope'" in str(
            app.filter_bar.query_one("#filter-error").render()), what="refused")
        assert app.filter_text == "" and len(app.view) == len(app.store)


async def test_the_saved_filters_list_applies_and_deletes(proxy, conf):
    conf.write_text(json.dumps({"filters": {"errors": "~e", "pings": "~m ^ping$"}}))
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        await type_now(pilot, "F", "down", "enter")  # sorted: errors, pings
        await wait_for(pilot, lambda: app.filter_text == "~m ^ping$", what="picked from the list")
        await type_now(pilot, "F", "x")
        await wait_for(pilot, lambda: saved(conf) == {"pings": "~m ^ping$"}, what="deleted")
        await type_now(pilot, "enter")
        await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        assert app.filter_text == "~m ^ping$"


async def test_the_palette_offers_saved_filters(proxy, conf):
    conf.write_text(json.dumps({"filters": {"errors": "~e"}}))
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        commands = {title: cb for title, _, cb in ActionsProvider(app.screen)._commands()}
        commands["Saved filter @errors"]()
        assert app.filter_text == "~e"
        commands["Delete saved filter @errors"]()
        assert saved(conf) == {}


async def test_keys_can_be_remapped_in_the_config_file(proxy, conf, monkeypatch):
    conf.write_text(json.dumps({"keys": {"stats": "S", "help": "F"}}))
    monkeypatch.setenv("OMPROXY_TUI_KEYMAP", "help=question_mark")  # the environment wins per id
    app = OmproxyApp([SocketSource(proxy.path)], clock=lambda: T0 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await started(proxy, pilot)
        assert app.keymap_overrides == {"stats": "S", "help": "question_mark"}
        await pilot.press("S")
        from omproxy_tui.tui.screens import StatsScreen

        await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen))
    assert os.path.exists(conf)
