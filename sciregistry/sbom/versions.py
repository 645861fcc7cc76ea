"""Version ordering per ecosystem: never a string comparison.

    pypi           PEP 440 (``packaging.version``)
    deb            Debian policy 5.6.12 (dpkg's verrevcmp as a sort key; epoch, upstream, revision, ``~``)
    apk            apk-tools ``apk_version_compare`` (digits, letters, ``_alpha``..``_p`` suffixes, ``-rN``)
    rpm            rpmvercmp with epoch and release (``1:2.3-4.el9``)
    npm            SemVer 2.0.0 precedence (build metadata ignored, pre-releases before the release)
    cran, bioconductor   R ``package_version``: integers separated by ``.`` or ``-``
    conda          conda's VersionOrder: epoch ``N!``, components split on ``.``/``_``/``-``,
                   numbers before letters, ``dev`` lowest and ``post`` highest, ``+local`` last

``key(type, version)`` returns a sort key (or raises ValueError for a version the ecosystem does not
allow); keys of one ecosystem compare with ``<`` and ``==``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version as Pep440Version

# --- Debian ------------------------------------------------------------------------------------------------


def _isnum(s: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses): versions come
    from the images scanned."""
    return s.isascii() and s.isdigit()


_DEB_RE = re.compile(r"^(?:(\d+):)?([0-9A-Za-z.+~:-]*?)(?:-([0-9A-Za-z.+~]+))?$")


def _deb_part(s: str) -> tuple[Any, ...]:
    """dpkg's verrevcmp as a sort key: alternating lexical and numeric parts; in lexical parts '~'
    sorts before the end of the part, which sorts before letters, which sort before other
    characters. A trailing sentinel stands for 'the string ended' (a shorter string is padded
    with empty lexical and zero numeric parts)."""
    out: list[Any] = []
    i, n = 0, len(s)
    while i < n:
        j = i
        while j < n and not _isnum(s[j]):
            j += 1
        lex = (*tuple(-1 if c == "~" else ord(c) if c.isalpha() else ord(c) + 256 for c in s[i:j]), 0)
        k = j
        while k < n and _isnum(s[k]):
            k += 1
        out.append(lex)
        out.append(int(s[j:k]) if k > j else 0)
        i = k
    while len(out) >= 2 and out[-2] == (0,) and out[-1] == 0:
        del out[-2:]
    out.append((0,))
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def deb_key(version: str) -> tuple[Any, ...]:
    """Debian policy 5.6.12 ordering of ``[epoch:]upstream[-revision]`` (checked against
    python-debian's implementation in the tests)."""
    m = _DEB_RE.match(version.strip())
    if not m or not m.group(2) or not _isnum(m.group(2)[0]):
        raise ValueError(f"invalid Debian version {version!r}")
    epoch, upstream, revision = m.groups()
    return (int(epoch or 0), _deb_part(upstream), _deb_part(revision or ""))


# --- apk -------------------------------------------------------------------------------------------

_APK_SUFFIX = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}
_APK_RE = re.compile(
    r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:~[0-9a-f]+)?(?:-r(\d+))?$"
)


@functools.lru_cache(maxsize=65536)
def apk_key(version: str) -> tuple[Any, ...]:
    """apk version: ``1.2.3a_rc1_p2-r4``. Numbers compare as integers (the first component; later
    ones with a leading zero compare as decimal fractions, as apk-tools does), then the letter,
    then suffixes (pre-release suffixes sort before none, post-release ones after), then -rN."""
    m = _APK_RE.match(version)
    if not m:
        raise ValueError(f"invalid apk version {version!r}")
    nums, letter, suffixes, rel = m.groups()
    parts: list[Any] = []
    for i, n in enumerate(nums.split(".")):
        if i > 0 and n.startswith("0") and len(n) > 1:
            parts.append((0, float("0." + n)))  # fractional comparison of leading-zero components
        else:
            parts.append((1, int(n)))
    sfx: list[tuple[int, int]] = []
    for s in re.findall(r"_([a-z]+)(\d*)", suffixes):
        sfx.append((_APK_SUFFIX[s[0]], int(s[1] or 0)))
    sfx.append((0, 0))  # "no more suffixes" sorts between pre- and post-release ones
    return (tuple(parts), (ord(letter) if letter else 0), tuple(sfx), int(rel or 0))


# --- rpm -------------------------------------------------------------------------------------------


def _rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    ia = ib = 0
    while True:
        while ia < len(a) and not a[ia].isalnum() and a[ia] not in "~^":
            ia += 1
        while ib < len(b) and not b[ib].isalnum() and b[ib] not in "~^":
            ib += 1
        ta = a[ia] if ia < len(a) else ""
        tb = b[ib] if ib < len(b) else ""
        if ta == "~" or tb == "~":
            if ta != "~":
                return 1
            if tb != "~":
                return -1
            ia += 1
            ib += 1
            continue
        if ta == "^" or tb == "^":
            if ia >= len(a):
                return -1
            if ib >= len(b):
                return 1
            if ta != "^":
                return 1
            if tb != "^":
                return -1
            ia += 1
            ib += 1
            continue
        if ia >= len(a) or ib >= len(b):
            break
        numeric = _isnum(a[ia])
        ja, jb = ia, ib
        pred = str.isdigit if numeric else str.isalpha
        while ja < len(a) and pred(a[ja]):
            ja += 1
        while jb < len(b) and pred(b[jb]):
            jb += 1
        sa, sb = a[ia:ja], b[ib:jb]
        if not sb:
            return 1 if numeric else -1
        if numeric:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
        ia, ib = ja, jb
    if ia >= len(a) and ib >= len(b):
        return 0
    return -1 if ia >= len(a) else 1


def _evr(v: str) -> tuple[int, str, str]:
    epoch, sep, rest = v.partition(":")
    if not sep:
        epoch, rest = "0", v
    if not _isnum(epoch):
        raise ValueError(f"invalid rpm epoch in {v!r}")
    version, _, release = rest.partition("-")
    return int(epoch), version, release


def rpm_compare(a: str, b: str) -> int:
    ea, va, ra = _evr(a)
    eb, vb, rb = _evr(b)
    if ea != eb:
        return 1 if ea > eb else -1
    c = _rpmvercmp(va, vb)
    if c or not ra or not rb:
        return c
    return _rpmvercmp(ra, rb)


# --- npm (SemVer 2.0.0) ----------------------------------------------------------------------------

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def semver_key(version: str) -> tuple[Any, ...]:
    m = _SEMVER.match(version.strip())
    if not m:
        raise ValueError(f"invalid semver {version!r}")
    major, minor, patch, pre = m.groups()
    if pre is None:
        pre_key: tuple[Any, ...] = (1,)
    else:
        pre_key = (0, tuple((0, int(p), "") if _isnum(p) else (1, 0, p) for p in pre.split(".")))
    return (int(major), int(minor), int(patch), pre_key)


# --- R -------------------------------------------------------------------------------------------------


def r_key(version: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d+([.-]\d+)+", version.strip()):
        raise ValueError(f"invalid R package version {version!r}")
    nums = [int(x) for x in re.split(r"[.-]", version.strip())]
    while len(nums) > 1 and nums[-1] == 0:
        nums.pop()
    return tuple(nums)


# --- conda -----------------------------------------------------------------------------------------------


def conda_key(version: str) -> tuple[Any, ...]:
    v = version.strip().lower()
    if not v or " " in v:
        raise ValueError(f"invalid conda version {version!r}")
    epoch = 0
    if "!" in v:
        e, v = v.split("!", 1)
        if not _isnum(e):
            raise ValueError(f"invalid conda epoch in {version!r}")
        epoch = int(e)
    v, _, local = v.partition("+")

    def comps(s: str) -> tuple[Any, ...]:
        out: list[Any] = []
        for part in re.split(r"[._-]", s.replace("_", ".")):
            for tok in re.findall(r"\d+|[a-z]+", part) or ["0"]:
                if _isnum(tok):
                    out.append((2, int(tok), ""))
                elif tok == "dev":
                    out.append((0, 0, tok))
                elif tok == "post":
                    out.append((3, 0, tok))
                else:
                    out.append((1, 0, tok))
        while len(out) > 1 and out[-1] == (2, 0, ""):
            out.pop()
        return tuple(out)

    return (epoch, _Padded(comps(v)), _Padded(comps(local)) if local else _Padded(()))


class _Padded:
    """A tuple that compares as if padded with zeros (conda: 1.0 == 1.0.0 and 1.1 < 1.1.1)."""

    __slots__ = ("items",)
    ZERO = (2, 0, "")

    def __init__(self, items: tuple[Any, ...]) -> None:
        self.items = items

    def _pair(self, other: _Padded) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        n = max(len(self.items), len(other.items))
        return (
            self.items + (self.ZERO,) * (n - len(self.items)),
            other.items + (self.ZERO,) * (n - len(other.items)),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Padded):
            return NotImplemented
        a, b = self._pair(other)
        return a == b

    def __lt__(self, other: _Padded) -> bool:
        a, b = self._pair(other)
        return a < b

    def __hash__(self) -> int:
        items = list(self.items)
        while items and items[-1] == self.ZERO:
            items.pop()
        return hash(tuple(items))


# --- dispatch ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _pep440(v: str) -> Pep440Version:
    try:
        return Pep440Version(v)
    except InvalidVersion as exc:
        raise ValueError(f"invalid PEP 440 version {v!r}") from exc


class _Cmp:
    """Adapts a three-way compare function to a sort key."""

    __slots__ = ("fn", "v")

    def __init__(self, fn: Callable[[str, str], int], v: str) -> None:
        self.fn, self.v = fn, v

    def __lt__(self, other: _Cmp) -> bool:
        return self.fn(self.v, other.v) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Cmp) and self.fn(self.v, other.v) == 0

    def __hash__(self) -> int:
        return hash(self.v)


def _rpm_key(v: str) -> _Cmp:
    _evr(v)
    return _Cmp(rpm_compare, v)


KEYS: dict[str, Callable[[str], Any]] = {
    "pypi": _pep440,
    "deb": deb_key,
    "apk": apk_key,
    "rpm": _rpm_key,
    "npm": semver_key,
    "cran": r_key,
    "bioconductor": r_key,
    "conda": conda_key,
}


def key(type_: str, version: str) -> Any:
    """Sort key of ``version`` in ecosystem ``type_`` (purl type); ValueError when invalid or unknown."""
    fn = KEYS.get(type_)
    if fn is None:
        raise ValueError(f"no version ordering for {type_!r}")
    return fn(version)


def compare(type_: str, a: str, b: str) -> int:
    ka, kb = key(type_, a), key(type_, b)
    return -1 if ka < kb else 1 if kb < ka else 0
