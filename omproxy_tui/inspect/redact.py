"""Masking secrets in inspect frames and recordings (unless --no-redact).

What counts as a secret: the values of ``-H`` headers and ``--env`` variables given to omproxy,
the values of headers and command-line options *named* like one (authorization, api key, token,
cookie, secret, password), and any later occurrence of those values in any frame.
"""

from __future__ import annotations

import json
import re

MASK = "***"
SECRET_NAME = re.compile(r"auth|api[-_]?key|token|cookie|secret|passw", re.IGNORECASE)


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if SECRET_NAME.search(k) else v) for k, v in headers.items()}


def mask_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Mask values of secret-looking options (``--token x``, ``--api-key=x``, ``API_KEY=x``);
    returns the masked argv and the values it masked (to mask them elsewhere too)."""
    out, found = [], []
    mask_next = False
    for arg in argv:
        if mask_next:
            found.append(arg)
            out.append(MASK)
            mask_next = False
            continue
        name, eq, value = arg.partition("=")
        if eq and SECRET_NAME.search(name) and value:
            found.append(value)
            out.append(f"{name}={MASK}")
            continue
        if arg.startswith("-") and SECRET_NAME.search(arg):
            mask_next = True
        out.append(arg)
    return out, found


class Redactor:
    """Replaces known secret values in encoded frames. Cheap when there are none."""

    def __init__(self, secrets: list[str], enabled: bool = True):
        # Mask both the plain and the JSON-escaped spelling; ignore trivially short values, which
        # would mask unrelated text.
        forms: set[bytes] = set()
        for s in secrets if enabled else ():
            if len(s) >= 4:
                forms.add(s.encode())
                forms.add(json.dumps(s)[1:-1].encode())
        self.forms = sorted(forms, key=len, reverse=True)
        self.enabled = enabled

    def __call__(self, data: bytes) -> bytes:
        for form in self.forms:
            if form in data:
                data = data.replace(form, MASK.encode())
        return data
