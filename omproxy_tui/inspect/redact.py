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
line stays the same JSON with ``***`` in place of the secret. A line relayed as ``raw_b64``
(not UTF-8) is not searched.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring as _esc, encode_basestring_ascii as _esc_ascii
from typing import Any, Iterable, Mapping

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
    with at least one letter and one digit that is not a path (no leading ``/ . ~``) and has at
    most two dots (a dotted name like ``com.example.app1`` is not a key)."""
    v = value.strip()
    if _AUTH_SCHEME.match(v):
        return True
    if not _TOKEN_CHARS.match(v):
        return False
    if _KNOWN_PREFIX.match(v) and len(v) >= 12:
        return True
    return (len(v) >= 20 and v[0] not in "/.~" and v.count(".") <= 2
            and any(c.isalpha() for c in v) and any(c.isdigit() for c in v))


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


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_MAX_DEPTH = 4  # JSON text inside a string inside the relayed line inside the frame, and one more


class Redactor:
    """Masks secret values in encoded frames (see the module docstring for where). A frame that
    holds no secret, in any spelling, is returned as it is, after one substring search per
    spelling; only a frame that does is decoded, masked and encoded again."""

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
        # ...and inside the encoded frame, where all of those are escaped once more (frames are ASCII).
        self.forms = sorted({_esc_ascii(sp)[1:-1].encode() for sp in spellings}, key=len, reverse=True)

    def __call__(self, data: bytes) -> bytes:
        if not any(form in data for form in self.forms):
            return data
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):  # not a frame (a bare target string): plain text
            text = data.decode("utf-8", "replace")
            return self._plain(text).encode() if self._has(text) else data
        new = self._walk(obj, 0)
        if new is obj:
            return data
        out = json.dumps(new, separators=(",", ":")).encode()
        return out + b"\n" if data.endswith(b"\n") else out

    # Each step returns the very same object when it masked nothing, so an unchanged frame keeps its bytes.
    def _walk(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, str):
            return self._text(obj, depth)
        if isinstance(obj, dict):
            # The frame's own keys are its structure ("held", "raw"…): never masked.
            items = [(k, self._walk(v, depth)) for k, v in obj.items()]
            if all(v2 is v for (_, v2), v in zip(items, obj.values())):
                return obj
            return dict(items)
        if isinstance(obj, list):
            new = [self._walk(v, depth) for v in obj]
            return obj if all(a is b for a, b in zip(new, obj)) else new
        return obj  # numbers, booleans, null: never

    def _has(self, text: str) -> bool:
        return any(sp in text for sp in self.spellings)

    def _plain(self, text: str) -> str:
        for sp in self.spellings:
            text = text.replace(sp, MASK)
        return text

    def _text(self, text: str, depth: int) -> str:
        if not self._has(text):
            return text
        if depth < _MAX_DEPTH and text.lstrip()[:1] in ("{", "["):
            try:
                json.loads(text)
            except (ValueError, RecursionError):
                pass
            else:
                # Valid JSON has no quote outside its strings, so this finds exactly its strings.
                def one(m: re.Match) -> str:
                    token = m.group(0)
                    if not self._has(token):
                        return token
                    inner = json.loads(token)
                    new = self._text(inner, depth + 1)
                    return token if new == inner else json.dumps(new, ensure_ascii=False)

                new = _JSON_STRING.sub(one, text)
                return text if new == text else new
        new = self._plain(text)
        return text if new == text else new
