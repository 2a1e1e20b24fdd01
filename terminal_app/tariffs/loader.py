"""Read tariff TOML files into domain Tariffs, refusing anything doubtful with a clear message.

File layout (see the packaged samples next to this module)::

    name, version, title        — top-level keys: machine name (= file name), data version, title
    kind = "flat" | "tiered" | "tou",  tier_period = "month" | "year" (tiered only)
    [source]   title, issuer, url, date, verified (bool), note — where the figures come from: every
               packaged file names its document and date; verified = false marks an example
    [flat]     name, price                                  — kind = "flat"
    [[tier]]   name, upto, price                            — kind = "tiered", one table all year
    [[season]] name, months = [6, 7, …]  +  [[season.tier]] — kind = "tiered", by season
    [[tou]]    register = "sharp"|"peak"|"flat"|"valley", name, price   — kind = "tou"
    [[surcharge]] name, price                               — any kind, optional

Prices (元/kWh) and tier bounds (kWh) are decimal STRINGS ("0.5224"): a TOML float would be
read as binary floating point, which money never is.  ``upto`` is the inclusive upper bound of
a tier in kWh of the tier period; the last tier has none.  Seasons must cover the twelve months
exactly once.  Yearly tiers cannot vary by season.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import parse_kwh, parse_price
from terminal_app.domain.tariff import (
    ALL_MONTHS,
    Register,
    Season,
    Source,
    Surcharge,
    Tariff,
    TariffKind,
    Tier,
    TierPeriod,
    TouRate,
)
from terminal_app.errors import N_, ConfigurationError

NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
PACKAGE_DIR = Path(__file__).resolve().parent
MAX_FILE_BYTES = 64 * 1024
_ORDINALS = "一二三四五六七八九十"


class TariffFileError(ConfigurationError):
    default_action = "Correct the tariff file, or install the tariff file the utility published."


class _Ctx:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, problem: str, action: str) -> TariffFileError:
        # the action may quote file content: escape braces, it is a format string
        action = action.replace("{", "{{").replace("}", "}}")
        return TariffFileError("Tariff file {file}: {key} {problem}.", action, file=self.origin, key=key,
                               problem=problem)

    def table(self, value: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, "is not a table", f"Write [{key}] as a TOML table.")
        unknown = set(value) - allowed
        if unknown:
            raise self.fail(key, f"has unknown key(s) {', '.join(sorted(unknown))}",
                            f"Use only: {', '.join(sorted(allowed))}.")
        return value

    def array(self, value: Any, key: str, max_len: int = 24) -> list[Any]:
        if not isinstance(value, list) or not value or len(value) > max_len:
            raise self.fail(key, f"is not a list of 1 to {max_len} tables", f"Write it as [[{key}]] entries.")
        return value

    def text(self, t: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
        path = f"{where}.{key}" if where else key
        if key not in t:
            if default is not None:
                return default
            raise self.fail(path, "is missing", f"Add {key} = \"…\".")
        v = t[key]
        if not isinstance(v, str) or not v.strip() or len(v) > 200 or not v.isprintable():
            raise self.fail(path, "is not a short non-empty string", "Write it as a quoted string.")
        return v

    def decimal(self, t: Mapping[str, Any], key: str, where: str, parse: Any) -> Decimal:
        if key not in t:
            raise self.fail(f"{where}.{key}", "is missing", f'Add {key} = "…" as a decimal string.')
        v = t[key]
        if not isinstance(v, str):
            raise self.fail(f"{where}.{key}", f"is {v!r}, not a decimal string",
                            f'Quote it: {key} = "{v}" (TOML floats are inexact).')
        try:
            return parse(v)
        except InvalidValueError as e:
            raise self.fail(f"{where}.{key}", e.what_text().rstrip("."),
                            e.action_text) from e


def _tiers(ctx: _Ctx, value: Any, where: str) -> tuple[Tier, ...]:
    rows = ctx.array(value, where, max_len=10)
    tiers: list[Tier] = []
    last_upto = Decimal(0)
    for i, row in enumerate(rows):
        key = f"{where}[{i + 1}]"
        t = ctx.table(row, key, {"name", "upto", "price"})
        price = ctx.decimal(t, "price", key, parse_price)
        name = ctx.text(t, "name", key, default=f"第{_ORDINALS[i]}档")
        is_last = i == len(rows) - 1
        if is_last:
            if "upto" in t:
                raise ctx.fail(f"{key}.upto", "is set on the last tier",
                               "Remove it: the last tier takes all remaining usage.")
            tiers.append(Tier(name, price, None))
            continue
        upto = ctx.decimal(t, "upto", key, lambda v: parse_kwh(v, N_("Tier bound (kWh)")))
        if upto <= last_upto:
            raise ctx.fail(f"{key}.upto", f"({upto}) is not above the previous tier's bound ({last_upto})",
                           "List the tiers from the lowest to the highest bound.")
        last_upto = upto
        tiers.append(Tier(name, price, upto))
    return tuple(tiers)


def _seasons(ctx: _Ctx, value: Any) -> tuple[Season, ...]:
    rows = ctx.array(value, "season", max_len=12)
    seasons = []
    seen: dict[int, str] = {}
    for i, row in enumerate(rows):
        key = f"season[{i + 1}]"
        t = ctx.table(row, key, {"name", "months", "tier"})
        name = ctx.text(t, "name", key)
        months = t.get("months")
        if (not isinstance(months, list) or not months
                or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months)):
            raise ctx.fail(f"{key}.months", "is not a list of month numbers 1–12", "Write e.g. months = [6, 7, 8].")
        for m in months:
            if m in seen:
                raise ctx.fail(f"{key}.months", f"repeats month {m} (already in {seen[m]})",
                               "Put each month in exactly one season.")
            seen[m] = name
        seasons.append(Season(name, frozenset(months), _tiers(ctx, t.get("tier"), f"{key}.tier")))
    missing = sorted(ALL_MONTHS - set(seen))
    if missing:
        raise ctx.fail("season", f"covers no price for month(s) {', '.join(map(str, missing))}",
                       "Add the missing months to a season.")
    return tuple(seasons)


def parse_tariff(data: Mapping[str, Any], origin: str) -> Tariff:
    """Build a Tariff from a parsed TOML document; ``origin`` names the file in messages."""
    ctx = _Ctx(origin)
    head = top = ctx.table(data, "the top level", {"name", "version", "title", "kind", "tier_period", "source",
                                               "flat", "tier", "season", "tou", "surcharge"})
    name = ctx.text(head, "name", "")
    if not NAME_RE.fullmatch(name):
        raise ctx.fail("name", f"{name!r} is not lower-case letters, digits and dashes",
                       'Use a name like "sichuan-residential".')
    title = ctx.text(head, "title", "")
    version = ctx.text(head, "version", "", default="")
    try:
        kind = TariffKind(ctx.text(head, "kind", ""))
    except ValueError as e:
        raise ctx.fail("kind", f"{head['kind']!r} is unknown", 'Use "flat", "tiered" or "tou".') from e
    try:
        period = TierPeriod(ctx.text(head, "tier_period", "", default="month"))
    except ValueError as e:
        raise ctx.fail("tier_period", f"{head['tier_period']!r} is unknown", 'Use "month" or "year".') from e
    if "tier_period" in head and kind is not TariffKind.TIERED:
        raise ctx.fail("tier_period", f"is set on a {kind.value} tariff", "Remove it.")

    sections = {"flat": TariffKind.FLAT, "tier": TariffKind.TIERED, "season": TariffKind.TIERED,
                "tou": TariffKind.TOU}
    for sec, owner in sections.items():
        if sec in top and owner is not kind:
            raise ctx.fail(sec, f"does not belong in a {kind.value} tariff", f"Remove [{sec}] or change kind.")

    seasons: tuple[Season, ...] = ()
    tou: tuple[TouRate, ...] = ()
    if kind is TariffKind.FLAT:
        if "flat" not in top:
            raise ctx.fail("flat", "is missing", 'Add [flat] with price = "…".')
        t = ctx.table(top["flat"], "flat", {"name", "price"})
        tier = Tier(ctx.text(t, "name", "flat", default="电度电费"), ctx.decimal(t, "price", "flat", parse_price))
        seasons = (Season("", ALL_MONTHS, (tier,)),)
    elif kind is TariffKind.TIERED:
        if ("tier" in top) == ("season" in top):
            raise ctx.fail("tier/season", "are both present or both missing",
                           "Give either [[tier]] (one table all year) or [[season]] with [[season.tier]].")
        if "season" in top:
            if period is TierPeriod.YEAR:
                raise ctx.fail("season", "is used with yearly tiers",
                               "Yearly tier thresholds cannot change by season: use [[tier]].")
            seasons = _seasons(ctx, top["season"])
        else:
            seasons = (Season("", ALL_MONTHS, _tiers(ctx, top["tier"], "tier")),)
        if all(len(s.tiers) < 2 for s in seasons):
            raise ctx.fail("tier", "has a single tier", 'A one-price tariff is kind = "flat".')
    else:
        rows = ctx.array(top.get("tou"), "tou", max_len=4)
        rates: list[TouRate] = []
        for i, row in enumerate(rows):
            key = f"tou[{i + 1}]"
            t = ctx.table(row, key, {"register", "name", "price"})
            try:
                reg = Register.parse(ctx.text(t, "register", key))
            except InvalidValueError as e:
                raise ctx.fail(f"{key}.register", f"{t['register']!r} is unknown", str(e.action)) from e
            if reg in (r.register for r in rates):
                raise ctx.fail(f"{key}.register", f"repeats {reg.value}", "Price each register once.")
            rates.append(TouRate(reg, ctx.text(t, "name", key, default=reg.zh), ctx.decimal(t, "price", key, parse_price)))
        tou = tuple(sorted(rates, key=lambda r: r.register.tariff_number))

    surcharges = []
    if "surcharge" in top:
        for i, row in enumerate(ctx.array(top["surcharge"], "surcharge", max_len=8)):
            key = f"surcharge[{i + 1}]"
            t = ctx.table(row, key, {"name", "price"})
            surcharges.append(Surcharge(ctx.text(t, "name", key), ctx.decimal(t, "price", key, parse_price)))

    source = Source()
    if "source" in top:
        s = ctx.table(top["source"], "source", {"title", "issuer", "url", "verified", "note", "date"})
        verified = s.get("verified", False)
        if not isinstance(verified, bool):
            raise ctx.fail("source.verified", "is not true or false", "Write verified = true or false.")
        date = ctx.text(s, "date", "source", default="")
        if date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            raise ctx.fail("source.date", f"{date!r} is not YYYY-MM-DD", 'Write date = "2012-07-01".')
        if verified and not (s.get("title") and date):
            raise ctx.fail("source", "is verified but names no document title and date",
                           "Give title and date of the document the figures were checked against.")
        doc_title, issuer, url = (ctx.text(s, k, "source", default="") for k in ("title", "issuer", "url"))
        source = Source(doc_title, issuer, url, verified=verified, note=ctx.text(s, "note", "source", default=""), date=date)
    return Tariff(name, title, kind, period, seasons, tou, tuple(surcharges), source, version)


def load_tariff_file(path: str | os.PathLike[str]) -> Tariff:
    """Load and validate one tariff file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # bounded: a tariff file is a few kB
    except FileNotFoundError as e:
        raise TariffFileError("Tariff file {file} does not exist.",
                              "Check the tariff name; `handheld diag bill --list` shows the installed ones.",
                              file=str(p)) from e
    except OSError as e:
        raise TariffFileError("Tariff file {file} cannot be read: {error}.", "Check its permissions.",
                              file=str(p), error=e) from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TariffFileError("Tariff file {file} is not UTF-8.", "Save it as UTF-8.", file=str(p)) from e
    return parse_tariff_text(text, str(p))


def parse_tariff_text(text: str, origin: str) -> Tariff:
    """A tariff from TOML text, e.g. the ``data`` of a tariff the station sent (GT/1 TARIFFS)."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise TariffFileError("Tariff file {file} is larger than {n} bytes.", file=origin, n=MAX_FILE_BYTES)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TariffFileError("Tariff file {file} is not valid TOML: {error}.", "Fix the line it names.",
                              file=origin, error=e) from e
    return parse_tariff(data, origin)


def packaged_names() -> list[str]:
    """Names of the tariff files shipped with the terminal."""
    return sorted(p.stem for p in PACKAGE_DIR.glob("*.toml") if NAME_RE.fullmatch(p.stem))


def load_tariff(name: str) -> Tariff:
    """A packaged tariff by name ("sichuan-residential"), or any tariff file by a path ending .toml."""
    if name.endswith(".toml"):
        return load_tariff_file(name)
    if not NAME_RE.fullmatch(name) or name not in packaged_names():
        raise TariffFileError("Tariff {name!r} is not installed.", "Use one of: {names}.",
                              name=name, names=", ".join(packaged_names()))
    tariff = load_tariff_file(PACKAGE_DIR / f"{name}.toml")
    if tariff.name != name:
        raise TariffFileError("Tariff file {name}.toml declares name {declared!r}.",
                              "Make the name key match the file name.", name=name, declared=tariff.name)
    return tariff
