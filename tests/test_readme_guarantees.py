"""README's "What the relay guarantees" names the test behind each claim: those tests must exist."""

import re

from helpers import ROOT

ABBREVIATIONS = {"SR": "tests/test_stdio_relay.py", "RH": "tests/test_relay_hardening.py",
                 "SD": "tests/test_shutdown_delivery.py"}


def test_every_guarantee_names_a_test_that_exists():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("What the relay guarantees"):readme.index("### `omproxy http|sse")]
    refs = re.findall(r"`(SR|RH|SD|tests/[\w/]+\.py)::(\w+)`", section)
    assert len(refs) >= 20
    missing = []
    for where, name in refs:
        path = ROOT / ABBREVIATIONS.get(where, where)
        if not re.search(rf"^def {name}\(", path.read_text(), re.M):
            missing.append(f"{path.name}::{name}")
    assert missing == []
    for bullet in re.split(r"\n- ", section)[1:]:  # every top-level guarantee cites at least one test
        assert "::test_" in bullet, bullet[:80]
