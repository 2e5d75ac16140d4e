"""Two corrections to bashlex 0.18's word expansion, where it reads a word unlike bash.

bashlex's tokenizer splits a script into words as bash does; it then expands each word
(``bashlex.subst._expandwordinternal``) to find its parameters and substitutions. There it
looks for the quote that closes a single-quoted span starting *at the opening quote*
(``string.find("'", sindex[0])``), so it finds the opening quote itself and reads the span's
inside as if it were unquoted:

- ``V='$['`` fails with ``NotImplementedError('arithmetic substitution')`` and ``'`x`'y``
  with an internal error, though bash prints ``$[`` and ```x`y``;
- ``'${'#`` never ends: ``_paramexpand`` looks for the ``}`` of ``${``, finds none, and
  goes back to the start of the word, allocating without end (a test run of the property
  tests was killed by the kernel at 23 GB).

:func:`install` corrects both where bashlex goes wrong, without copying its code:

- before bashlex expands a word, the characters its expansion treats as special inside the
  word's single-quoted spans (``'…'`` and ``$'…'``, found with bash's quoting rules) are
  replaced one for one by private-use characters, and restored in the expanded word after;
  positions do not move, so the interpreter still reads the script's own text;
- an unclosed ``${`` that still reaches ``_paramexpand`` is a ``ParsingError``
  (``bad substitution``), never a loop.

``bashlex>=0.18,<0.19`` in pyproject.toml pins the version these internals belong to.
docs/aws-facts.md#bounds-on-what-an-instance-runs.
"""

from __future__ import annotations

# What bashlex's word expansion reads as special: $ (parameters, $( $[ ${), ` (command
# substitution), \ (escape), " (skipped), < > (process substitution), ~ (tilde).
_SPECIAL = "$`\\\"<>~"
_MASK = {ord(c): chr(0xF0000 + ord(c)) for c in _SPECIAL}
_UNMASK = {0xF0000 + ord(c): c for c in _SPECIAL}

_installed = False


def _skip(word: str, i: int) -> int | None:
    """The index just after the quoted string or substitution that starts at ``word[i]``
    (``"…"``, `` `…` ``, ``$(…)``, ``${…}``), or None if it does not close in the word."""
    n = len(word)
    if word[i] == "`":
        j = i + 1
        while j < n and word[j] != "`":
            j += 2 if word[j] == "\\" else 1
        return j + 1 if j < n else None
    if word[i] == '"':
        j = i + 1
        while j < n and word[j] != '"':
            if word[j] == "\\":
                j += 2
            elif word[j] == "`" or (word[j] == "$" and word[j + 1 : j + 2] in ("(", "{")):
                j = _skip(word, j)
                if j is None:
                    return None
            else:
                j += 1
        return j + 1 if j < n else None
    # $( … ) or ${ … }: to the matching closer, through nested quotes and substitutions.
    opener = word[i + 1]
    closer = ")" if opener == "(" else "}"
    depth, j = 1, i + 2
    while j < n:
        c = word[j]
        if c == "\\":
            j += 2
            continue
        if c == "'" and opener == "(":
            end = word.find("'", j + 1)
            if end < 0:
                return None
            j = end + 1
            continue
        if c in '"`' or (c == "$" and word[j + 1 : j + 2] in ("(", "{")):
            j = _skip(word, j)
            if j is None:
                return None
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return None


def single_quoted_spans(word: str) -> list[tuple[int, int]] | None:
    """The insides of the single-quoted spans (``'…'``, ``$'…'``) at the top level of one
    word, as (start, end) indexes; None when the word cannot be followed (then nothing is
    masked and bashlex reads it as it would anyway)."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(word)
    while i < n:
        c = word[i]
        if c == "\\":
            i += 2
        elif c == "'":
            end = word.find("'", i + 1)
            if end < 0:
                return None
            spans.append((i + 1, end))
            i = end + 1
        elif c == "$" and word[i + 1 : i + 2] == "'":
            j = i + 2  # ANSI-C quoting: backslash escapes, even of a quote
            while j < n and word[j] != "'":
                j += 2 if word[j] == "\\" else 1
            if j >= n:
                return None
            spans.append((i + 2, j))
            i = j + 1
        elif c in '"`' or (c == "$" and word[i + 1 : i + 2] in ("(", "{")):
            i = _skip(word, i)
            if i is None:
                return None
        else:
            i += 1
    return spans


def mask_single_quotes(word: str) -> str:
    """``word`` with bashlex's special characters inside its single-quoted spans replaced
    by private-use characters of the same length (``word`` itself when there is nothing to
    mask, or when the word already holds such characters)."""
    spans = single_quoted_spans(word)
    if not spans or any(ord(ch) in _UNMASK for ch in word):
        return word
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(word[last:start])
        pieces.append(word[start:end].translate(_MASK))
        last = end
    pieces.append(word[last:])
    masked = "".join(pieces)
    return word if masked == word else masked


def install(bashlex) -> None:
    """Wrap bashlex's word expansion and ``${`` reading (once per process)."""
    global _installed
    if _installed:
        return
    subst, errors = bashlex.subst, bashlex.errors
    expand, paramexpand = subst._expandwordinternal, subst._paramexpand

    def expandwordinternal(parserobj, wordtoken, *rest):
        value = wordtoken.value
        masked = mask_single_quotes(value)
        if masked is value:
            return expand(parserobj, wordtoken, *rest)
        wordtoken.value = masked
        try:
            parts, word = expand(parserobj, wordtoken, *rest)
        finally:
            wordtoken.value = value
        return parts, word.translate(_UNMASK)

    def bounded_paramexpand(parserobj, string, sindex):
        if string[sindex + 1 : sindex + 2] == "{" and string.find("}", sindex + 2) < 0:
            raise errors.ParsingError(f"bad substitution: no closing \"}}\" in {string}", string, sindex)
        return paramexpand(parserobj, string, sindex)

    subst._expandwordinternal = expandwordinternal
    subst._paramexpand = bounded_paramexpand
    _installed = True
