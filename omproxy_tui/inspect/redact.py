"""Masking secrets in inspect frames and recordings (unless --no-redact).

What is a secret:

- the value of a ``-H`` header or ``--env`` variable whose *name* is a secret's name (see
  ``is_secret_name``: token, secret, password, authorization, cookie, credential, api key, or a
  name with a separate word KEY / AUTH / PASS / PWD / PAT), or whose *value* looks like a
  credential (see ``looks_like_credential``); ``PORT=1000`` or ``DEBUG=false`` are not secrets;
- the value after a command-line option named like one (``--token x``, ``--api-key=x``, ``API_KEY=x``);
- for an ``Authorization``-style value (``Bearer tok``), the credential after the scheme too.

Where it is masked: only inside JSON string contents, at any depth: in the frame's own string
values (never its keys, which are its structure), and inside a string that holds JSON text (the
relayed line in ``raw``, or JSON text inside one of its strings) in that text's strings, keys
included (a credential used as a key must not leak either). Numbers, ``true``/``false``/
``null`` and the structure are never touched, so every frame stays valid JSON and a relayed
line stays the same JSON with ``***`` in place of the secret (a string that held one is encoded
again, so its own escapes may be spelled differently; every other byte is kept). A line relayed as
``raw_b64`` (not UTF-8) is not searched.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring as _scanstring  # the C speedup
from json.encoder import encode_basestring as _esc, encode_basestring_ascii as _esc_ascii
from typing import Iterable, Mapping

MASK = "***"
MIN_SECRET_LEN = 4  # shorter values would mask unrelated text

# Substrings that make a name a secret's name wherever they appear in it ("GITHUB_TOKEN", "authToken").
_SECRET_WORDS = re.compile(
    r"token|secret|passw(?:or)?d|passphrase|authori[sz]ation|credential|cookie|api[-_.]?key|private[-_.]?key",
    re.IGNORECASE)
# Words that do only as a separate word: KEY in "X-Api-Key" or "KEY", not in "MONKEY" or "KEYBOARD".
_SECRET_PARTS = {"key", "auth", "pass", "pwd", "pat"}
# "TOKENIZERS_PARALLELISM" is a well-known non-secret that the substring rule would catch.
_NOT_SECRET_NAMES = re.compile(r"tokenizers?(?:_|$)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a header, variable or option name names a secret."""
    if _NOT_SECRET_NAMES.search(name):
        return False
    if _SECRET_WORDS.search(name):
        return True
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()  # camelCase -> camel case
    return any(part in _SECRET_PARTS for part in re.split(r"[^a-z0-9]+", words))


_AUTH_SCHEME = re.compile(r"^(?:bearer|basic|token|digest|negotiate|apikey|api-key)\s+(\S.*)$", re.IGNORECASE)
# Prefixes of well-known credential formats (OpenAI/Stripe, GitHub, GitLab, Slack, AWS, Google,
# npm, Hugging Face, JWTs).
_KNOWN_PREFIX = re.compile(
    r"^(?:sk-|sk_|pk_live_|rk_live_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|xox[abprs]-|AKIA|ASIA|AIza|"
    r"npm_|hf_|ya29\.|eyJ)")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_\-+/=.]+$")


def looks_like_credential(value: str) -> bool:
    """Whether a value looks like a credential whatever its name: an ``Authorization``-style
    ``<scheme> <credential>``, a well-known token prefix (``sk-``, ``ghp_``, ``AKIA``, a JWT's
    ``eyJ``…) on a 12+ character word, or one word of 20+ characters from ``A-Z a-z 0-9 _ - + / = .``
    with at least one letter and one digit that is not a path (no leading ``/ . ~``, not both ``/``
    and ``.``) and has at most two dots (a dotted name like ``com.example.app1`` is not a key)."""
    v = value.strip()
    if _AUTH_SCHEME.match(v):
        return True
    if not _TOKEN_CHARS.match(v):
        return False
    if _KNOWN_PREFIX.match(v) and len(v) >= 12:
        return True
    if len(v) < 20 or v[0] in "/.~" or v.count(".") > 2 or ("/" in v and "." in v):
        return False  # a path (/x, ./x, ~/x, a/b/c.py) or a dotted name (com.example.app1)
    return any(c.isalpha() for c in v) and any(c.isdigit() for c in v)


def secret_values(items: Mapping[str, str]) -> list[str]:
    """The values of NAME=value pairs (``--env``, ``-H``) that are secrets, by name or by look;
    for ``Bearer tok`` both the whole value and ``tok``."""
    out: list[str] = []
    for name, value in items.items():
        if value and (is_secret_name(name) or looks_like_credential(value)):
            out.append(value)
            m = _AUTH_SCHEME.match(value.strip())
            if m:
                out.append(m.group(1))
    return out


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if v and (is_secret_name(k) or looks_like_credential(v)) else v) for k, v in headers.items()}


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
        if eq and value and is_secret_name(name.lstrip("-")):
            found.append(value)
            out.append(f"{name}={MASK}")
            continue
        if arg.startswith("-") and not eq and is_secret_name(arg.lstrip("-")):
            mask_next = True
        out.append(arg)
    return out, found


_KEY_END = re.compile(r"[ \t\r\n]*:")  # what follows a string that is an object key
_MAX_DEPTH = 4  # JSON text inside a string inside the relayed line inside the frame, and one more


class Redactor:
    """Masks secret values in encoded frames (see the module docstring for where).

    A frame holding no secret in any spelling is returned as it is, after one substring search
    per spelling. A frame that holds one is walked as JSON text: each string literal is found
    with the json module's C scanner, and only a literal that changes is encoded again, so the
    rest of the frame keeps its bytes."""

    def __init__(self, secrets: Iterable[str], enabled: bool = True):
        values = sorted({s for s in (secrets if enabled else ()) if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        self.enabled = enabled
        self.values = values
        # How a secret is spelled inside a decoded string: as itself, or JSON-escaped (with or
        # without "\u" escapes for non-ASCII, with or without "\/") when that string holds JSON text.
        spellings: set[str] = set()
        for s in values:
            for esc in (_esc(s)[1:-1], _esc_ascii(s)[1:-1]):
                spellings.update((esc, esc.replace("/", "\\/")))
            spellings.add(s)
        self.spellings = sorted(spellings, key=len, reverse=True)
        # ...and inside the encoded frame, where all of those are escaped once more (frames are
        # ASCII; other JSON given to us, such as --otlp-content's, may hold UTF-8).
        forms = {_esc_ascii(sp)[1:-1].encode() for sp in spellings} | {_esc(sp)[1:-1].encode() for sp in spellings}
        self.forms = sorted(forms, key=len, reverse=True)

    def __call__(self, data: bytes) -> bytes:
        if not self.forms or not any(form in data for form in self.forms):
            return data
        text = data.decode("utf-8", "replace")
        new = self._json_strings(text, 0) if text.lstrip()[:1] in ("{", "[") else None
        if new is None:  # not a frame (a bare target string): plain text
            new = self._plain(text)
        return data if new is text or new == text else new.encode()

    def _has(self, text: str) -> bool:
        return any(sp in text for sp in self.spellings)

    def _plain(self, text: str) -> str:
        for sp in self.spellings:
            text = text.replace(sp, MASK)
        return text

    def _text(self, text: str, depth: int) -> str:
        """A decoded string's text, masked: inside its own strings if it is JSON text, else anywhere."""
        if not self._has(text):
            return text
        if depth < _MAX_DEPTH and text.lstrip()[:1] in ("{", "["):
            new = self._json_strings(text, depth)
            if new is not None:
                return new
        new = self._plain(text)
        return text if new == text else new

    def _json_strings(self, text: str, depth: int) -> str | None:
        """Mask inside the string literals of JSON text (at depth 0, the frame: values only, its
        keys are its structure); None if it is not JSON after all.

        Outside its strings, valid JSON has no quote, so the next quote always opens a string, and
        the json module's C scanner finds where it ends: linear, at C speed, for 50 MB lines."""
        out: list[str] = []
        last = pos = 0
        find = text.find
        encode = _esc_ascii if depth == 0 else _esc  # frames are ASCII; a relayed line keeps its own style
        try:
            while (start := find('"', pos)) >= 0:
                value, pos = _scanstring(text, start + 1, True)
                if depth == 0 and _KEY_END.match(text, pos):
                    continue  # a key of the frame
                if self._has(value):
                    new = self._text(value, depth + 1)
                    if new != value:
                        out += (text[last:start], encode(new))
                        last = pos
        except ValueError:  # an unterminated string or a bad escape: not JSON
            return None
        if not out:
            result = text
        else:
            out.append(text[last:])
            result = "".join(out)
        if depth and self._has(result):
            # A secret outside the strings: in a number or a literal of valid JSON it stays (that is
            # not a string, and masking it would break the line); text that is not JSON is plain text.
            try:
                json.loads(text)
            except (ValueError, RecursionError):
                return None
        return result
