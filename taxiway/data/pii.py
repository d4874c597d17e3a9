"""Personal and protected data: columns that look like PII (ML Test Score D5); columns kept from models (D4).

A column is flagged from what its values look like (e-mail addresses, phone numbers, card numbers that
pass the Luhn check, latitudes / longitudes with 4 or more decimals: about 10 m) and from its name (person
names, addresses, postcodes). Values are checked on a seeded sample of at most 10,000 non-missing values per
column, with vectorised regular expressions, so a wide table is screened in well under a second.
The charter says what the team does about each flagged column: ``data.allowed_pii`` (kept, with care) or
``data.drop_columns`` (never a model input); a flagged column in neither fails the ``data.pii`` check.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from taxiway.store.evidence import Status

if TYPE_CHECKING:
    from taxiway.charter.model import Charter

PiiKind = Literal["email", "phone", "card_number", "person_name", "location", "address", "postcode"]
SAMPLE_SIZE = 10_000  # values per column: enough to estimate a share within about 1%
MIN_SHARE = 0.5  # a column is flagged when at least this share of its sampled values has the shape
MIN_DECIMALS = 4  # 4 decimals of a degree is about 11 m: a house, not a town

_EMAIL = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# A phone number written for people: an optional +CC or 00CC, groups of digits split by spaces, dots,
# dashes or brackets. Plain digit strings and ISO dates are left out (ids, amounts and days look alike).
_PHONE = r"(?:\+|00)?[\d\s().-]{7,20}"
_PLAIN_NUMBER = r"[+-]?\d+(?:\.\d+)?"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}.*"
_CARD = r"[1-9](?:[ -]?\d){12,18}"  # no issuer number starts with 0: keeps zero-padded ids out
_NAME_WORD = r"[A-ZÀ-Þ][a-zß-ÿ'’-]+"
_SINGLE_NAME = rf"{_NAME_WORD}(?:[ -]{_NAME_WORD})*"  # Ana, Jean-Luc, Mary Ann
_FULL_NAME = rf"{_NAME_WORD}(?: (?:[a-z]{{1,3}} )*{_NAME_WORD})+"  # Ana Lopez, Ludwig van Beethoven

_EMAIL_WORDS = frozenset({"email", "mail", "e_mail"})
_PHONE_WORDS = frozenset({"phone", "telephone", "tel", "mobile", "cell", "fax", "msisdn"})
_CARD_WORDS = frozenset({"card", "cc", "pan", "iban"})
_NAME_ALONE = frozenset({"name", "surname", "forename", "firstname", "lastname", "fullname", "givenname"})
_NAME_OWNERS = frozenset(
    {"first", "last", "full", "given", "family", "middle", "maiden", "sur", "fore", "customer", "client",
     "user", "patient", "person", "contact", "employee", "owner", "member", "passenger", "guest", "student",
     "holder", "account", "billing", "shipping", "mother", "father", "author"}
)  # fmt: skip
_LAT_WORDS = frozenset({"lat", "latitude"})
_LON_WORDS = frozenset({"lon", "lng", "long", "longitude"})
_ADDRESS_WORDS = frozenset({"address", "addr", "street", "streetname"})
_POSTCODE_WORDS = frozenset({"postcode", "postal", "zip", "zipcode", "postalcode", "plz"})

__all__ = [
    "MIN_SHARE",
    "SAMPLE_SIZE",
    "PiiFinding",
    "PiiKind",
    "PiiReport",
    "assess_pii",
    "check_meta_requirements",
    "detect_pii",
    "luhn_valid",
]


@dataclass(frozen=True)
class PiiFinding:
    """One column that looks like personal data, and why.

    ``share`` is the share of sampled values with the kind's shape (None when only the name says so);
    ``name_hint`` the word of the column name that points to it (None when only the values say so).
    """

    column: str
    kind: PiiKind
    share: float | None
    name_hint: str | None
    sampled: int


@dataclass(frozen=True)
class PiiReport:
    """Flagged columns and what the charter does about each: the ``data.pii`` evidence."""

    findings: tuple[PiiFinding, ...]
    allowed: frozenset[str]
    dropped: frozenset[str]

    @property
    def unhandled(self) -> tuple[str, ...]:
        """Flagged columns the charter neither allows nor drops."""
        return tuple(
            f.column for f in self.findings if f.column not in self.allowed and f.column not in self.dropped
        )

    @property
    def status(self) -> Status:
        """``pass`` when every flagged column is allowed or dropped (or none is flagged), else ``fail``."""
        return "fail" if self.unhandled else "pass"

    def details(self) -> dict[str, Any]:
        """The evidence details: per flagged column its kind, evidence and handling."""
        return {
            "flagged": len(self.findings),
            "unhandled": list(self.unhandled),
            "columns": {
                f.column: {
                    "kind": f.kind,
                    "share": f.share,
                    "name_hint": f.name_hint,
                    "sampled": f.sampled,
                    "allowed": f.column in self.allowed,
                    "dropped": f.column in self.dropped,
                }
                for f in self.findings
            },
        }


def detect_pii(frame: pd.DataFrame, *, seed: int = 0) -> tuple[PiiFinding, ...]:
    """Flag the columns of ``frame`` that look like personal data.

    Example:
        >>> frame = pd.DataFrame({"contact": ["ana@example.org", "bo@example.com"], "n": [1, 2],
        ...                       "lat": [48.85661, 59.91387]})
        >>> [(f.column, f.kind, f.share) for f in detect_pii(frame)]
        [('contact', 'email', 1.0), ('lat', 'location', 1.0)]
    """
    findings = []
    for position, name in enumerate(frame.columns):
        column = frame.iloc[:, position].dropna()
        if len(column) > SAMPLE_SIZE:
            column = column.sample(SAMPLE_SIZE, random_state=seed)
        finding = _column_finding(str(name), column)
        if finding is not None:
            findings.append(finding)
    return tuple(findings)


def assess_pii(
    frame: pd.DataFrame, *, allowed_pii: Iterable[str] = (), drop_columns: Iterable[str] = ()
) -> PiiReport:
    """Detect personal data in ``frame`` and say, per column, whether the charter allows or drops it.

    Example:
        >>> frame = pd.DataFrame({"email": ["ana@example.org"], "phone": ["+33 6 12 34 56 78"]})
        >>> report = assess_pii(frame, allowed_pii=["email"])
        >>> report.status, report.unhandled
        ('fail', ('phone',))
    """
    return PiiReport(detect_pii(frame), frozenset(allowed_pii), frozenset(drop_columns))


def check_meta_requirements(charter: Charter, feature_columns: Collection[str]) -> list[str]:
    """The protected columns (``data.protected_columns``) among a model's input columns: must be empty (D4).

    Training calls this before fitting and refuses to train while the list is not empty.

    Example:
        >>> from taxiway.charter import Charter
        >>> c = Charter.model_validate({"project": {"name": "x"}, "problem": {"target": "y"},
        ...                             "data": {"protected_columns": ["gender", "age"]}})
        >>> check_meta_requirements(c, ["income", "age", "city"])
        ['age']
        >>> check_meta_requirements(c, ["income"])
        []
    """
    protected = set(charter.data.protected_columns)
    return [column for column in feature_columns if column in protected]


def luhn_valid(numbers: pd.Series) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Whether each string of 13 to 19 digits (spaces and dashes allowed) passes the Luhn checksum.

    Vectorised: the digits are right-aligned in a matrix and weighted column by column.

    Example:
        >>> luhn_valid(pd.Series(["4111 1111 1111 1111", "4111 1111 1111 1112", "12"])).tolist()
        [True, False, False]
    """
    text = numbers.astype("str")
    shaped = text.str.fullmatch(_CARD).to_numpy(dtype=bool, na_value=False)
    result = np.zeros(len(text), dtype=bool)
    if not shaped.any():
        return result
    digits = text[shaped].str.replace(r"[ -]", "", regex=True).str.zfill(19)
    matrix = np.frombuffer("".join(digits.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 19) - 48
    doubled = matrix[:, -2::-2] * 2  # every second digit from the right, starting with the second
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = matrix[:, ::-2].sum(axis=1) + doubled.sum(axis=1)
    result[shaped] = total % 10 == 0
    return result


_Clue = tuple[PiiKind, float | None, str | None]  # (kind, share of values with its shape, name hint)


def _column_finding(name: str, values: pd.Series) -> PiiFinding | None:
    types = pd.api.types
    if types.is_bool_dtype(values.dtype) or types.is_datetime64_any_dtype(values.dtype):
        return None
    words = _words(name)
    if len(values) == 0:
        clue = _by_name(words)
    elif types.is_float_dtype(values.dtype):
        clue = _location(words, values) or _by_name(words)
    elif types.is_integer_dtype(values.dtype):
        clue = _card(words, values) or _digits_phone(words, values) or _by_name(words)
    else:
        text = values.astype("str")
        clue = _card(words, text) or _text_clue(words, text) or _by_name(words)
    if clue is None:
        return None
    kind, share, hint = clue
    return PiiFinding(name, kind, None if share is None else round(share, 4), hint, len(values))


def _card(words: list[str], values: pd.Series) -> _Clue | None:
    share = float(luhn_valid(values).mean())
    return ("card_number", share, _hint(words, _CARD_WORDS)) if share >= MIN_SHARE else None


def _digits_phone(words: list[str], values: pd.Series) -> _Clue | None:
    # An integer column is a phone number only if its name says so: ids and amounts look the same.
    hint = _hint(words, _PHONE_WORDS)
    if hint is None:
        return None
    share = _share(values.astype("str"), r"\d{7,15}")
    return ("phone", share, hint) if share >= MIN_SHARE else None


def _text_clue(words: list[str], text: pd.Series) -> _Clue | None:
    email = _share(text, _EMAIL)
    if email >= MIN_SHARE:
        return "email", email, _hint(words, _EMAIL_WORDS)
    phone = _phone_share(text)
    if phone >= MIN_SHARE:
        return "phone", phone, _hint(words, _PHONE_WORDS)
    hint = _person_name_hint(words)
    if hint is not None:
        # A bare "name" column may hold products or towns: ask for a first and last name there.
        person = _share(text, _FULL_NAME if hint == "name" else _SINGLE_NAME)
        if person >= MIN_SHARE:
            return "person_name", person, hint
    return None


def _location(words: list[str], values: pd.Series) -> _Clue | None:
    lat, lon = _hint(words, _LAT_WORDS), _hint(words, _LON_WORDS)
    if lat is None and lon is None:
        return None
    numbers = values.to_numpy(dtype="float64")
    if not (np.abs(numbers) <= (90.0 if lat is not None else 180.0)).all():
        return None
    scaled = numbers * 10 ** (MIN_DECIMALS - 1)  # a 4th decimal leaves a fraction at 3 decimals
    precise = float((np.abs(scaled - np.round(scaled)) > 1e-6).mean())
    return ("location", precise, lat or lon) if precise >= MIN_SHARE else None


def _by_name(words: list[str]) -> _Clue | None:
    address = _hint(words, _ADDRESS_WORDS)
    if address is not None:
        return "address", None, address
    postcode = _hint(words, _POSTCODE_WORDS)
    return ("postcode", None, postcode) if postcode is not None else None


def _phone_share(text: pd.Series) -> float:
    shaped = text.str.fullmatch(_PHONE).to_numpy(dtype=bool, na_value=False)
    if not shaped.any():
        return 0.0
    digits = text.str.count(r"\d").to_numpy(dtype="float64", na_value=0)
    plain = text.str.fullmatch(_PLAIN_NUMBER).to_numpy(dtype=bool, na_value=False)
    dates = text.str.fullmatch(_ISO_DATE).to_numpy(dtype=bool, na_value=False)
    return float((shaped & (digits >= 7) & (digits <= 15) & ~plain & ~dates).mean())


def _share(text: pd.Series, pattern: str) -> float:
    return (
        float(text.str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False).mean()) if len(text) else 0.0
    )


def _words(name: str) -> list[str]:
    """``customerEmail`` and ``customer_email`` both give ``['customer', 'email']``; the whole name last."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    words = [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]
    return [*words, "".join(words)]


def _hint(words: list[str], vocabulary: frozenset[str]) -> str | None:
    return next((word for word in words if word in vocabulary), None)


def _person_name_hint(words: list[str]) -> str | None:
    for before, word in itertools.pairwise(words[:-1]):
        if word == "name" and before in _NAME_OWNERS:
            return f"{before}_name"
    return words[-1] if words[-1] in _NAME_ALONE else None
