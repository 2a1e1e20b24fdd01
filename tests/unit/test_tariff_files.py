"""Tariff files: the packaged samples load and cite their source; bad files are refused with a
message naming the file, the key and what to do."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal_app.domain.tariff import TariffKind, TierPeriod
from terminal_app.errors import ConfigurationError
from terminal_app.tariffs import TariffFileError, load_tariff, load_tariff_file, packaged_names, parse_tariff
from terminal_app.tariffs.loader import PACKAGE_DIR


def test_samples_are_installed_and_load():
    names = packaged_names()
    for required in ("sichuan-residential", "flat-agricultural", "flat-commercial", "tou-sample",
                     "zhejiang-residential-yearly"):
        assert required in names
    kinds = {n: load_tariff(n).kind for n in names}
    assert kinds["sichuan-residential"] is TariffKind.TIERED and kinds["tou-sample"] is TariffKind.TOU
    assert kinds["flat-agricultural"] is kinds["flat-commercial"] is TariffKind.FLAT
    assert load_tariff("zhejiang-residential-yearly").tier_period is TierPeriod.YEAR


def test_sichuan_sample_cites_its_source_and_flags_unverified_figures():
    t = load_tariff("sichuan-residential")
    assert "四川省发展和改革委员会" in t.source.issuer and t.source.url.startswith("https://")
    assert t.source.verified is False and t.source.note and t.source.date == "2012-07-01"
    text = (PACKAGE_DIR / "sichuan-residential.toml").read_text("utf-8")
    assert "NOT checked" in text and "发改价格〔2011〕2617号" in text
    # unverified, so an example — and it says so wherever its title is shown
    assert t.source.example and "示例" in t.title
    # no wet-season copy of the dry table that would only look seasonal: one table all year
    assert {t.season_for(m).tiers for m in range(1, 13)} == {t.season_for(1).tiers}
    assert t.season_for(1).name == ""
    assert [(x.upto, x.price) for x in t.season_for(1).tiers] == [
        (D(180), D("0.5224")), (D(280), D("0.6224")), (None, D("0.8224"))]


def test_every_sample_names_its_source_document_and_date():
    for n in packaged_names():
        t = load_tariff(n)
        assert t.source.title and re.fullmatch(r"\d{4}-\d{2}-\d{2}", t.source.date), n
        # a seasonal table must differ from its neighbour season, or it is a copy that misleads
        seasons = {s.tiers for s in t.seasons}
        assert len(seasons) == len(t.seasons), n
        # every figure not checked against its source is labelled an example in its title
        assert t.source.verified or "示例" in t.title, n


def test_a_verified_source_needs_its_document_and_date(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(GOOD + '\n[source]\ntitle = "某通知"\nverified = true\n', "utf-8")
    with pytest.raises(TariffFileError, match="names no document title and date"):
        load_tariff(str(p))
    p.write_text(GOOD + '\n[source]\ntitle = "某通知"\ndate = "2012"\n', "utf-8")
    with pytest.raises(TariffFileError, match="source.date"):
        load_tariff(str(p))


GOOD = """
name = "t"
title = "test"
kind = "tiered"

[[tier]]
upto = "100"
price = "0.5"

[[tier]]
price = "0.6"
"""


@pytest.mark.parametrize("text, key, hint", [
    (GOOD.replace('price = "0.5"', "price = 0.5"), "tier[1].price", "Quote it"),
    (GOOD.replace('price = "0.5"', 'price = "-0.5"'), "tier[1].price", "decimal"),
    (GOOD.replace('price = "0.5"', 'price = "0.1234567"'), "tier[1].price", "decimal places"),
    (GOOD.replace('price = "0.5"', ""), "tier[1].price", "is missing"),
    (GOOD.replace('upto = "100"', ""), "tier[1].upto", "is missing"),
    (GOOD.replace('price = "0.6"', 'price = "0.6"\nupto = "200"'), "tier[2].upto", "last tier"),
    (GOOD.replace('upto = "100"', 'upto = "0"'), "tier[1].upto", "not above"),
    (GOOD.replace('kind = "tiered"', 'kind = "stepped"'), "kind", "flat"),
    (GOOD.replace('name = "t"', 'name = "Bad Name"'), "name", "lower-case"),
    (GOOD.replace('name = "t"', ''), "name is missing", "Add name"),
    (GOOD.replace('title = "test"', 'title = "test"\ncolour = "red"'), "top level", "colour"),
    (GOOD.replace('kind = "tiered"', 'kind = "flat"'), "tier", "does not belong"),
    (GOOD + '\n[[season]]\nname = "x"\nmonths = [1]\n', "tier/season", "either"),
    (GOOD.replace('kind = "tiered"', 'kind = "tiered"\ntier_period = "week"'), "tier_period", "year"),
    (GOOD + '\n[[surcharge]]\nname = ""\nprice = "0.01"\n', "surcharge[1].name", "non-empty"),
    (GOOD + '\n[source]\nverified = "yes"\n', "source.verified", "true or false"),
    ("name = \"t\"\ntitle = \"t\"\nkind = \"flat\"\n", "flat", "is missing"),
    ("name = \"t\"\ntitle = \"t\"\nkind = \"flat\"\n[flat]\nprice = \"1\"\n[[tou]]\nregister = \"peak\"\n"
     "price = \"1\"\n", "tou", "does not belong"),
    ("name = \"t\"\ntitle = \"t\"\nkind = \"tou\"\n[[tou]]\nregister = \"peak\"\nprice = \"1\"\n"
     "[[tou]]\nregister = \"峰\"\nprice = \"1\"\n", "tou[2].register", "repeats"),
    ("name = \"t\"\ntitle = \"t\"\nkind = \"tou\"\n[[tou]]\nregister = \"noon\"\nprice = \"1\"\n",
     "tou[1].register", "sharp/peak/flat/valley"),
])
def test_bad_files_are_refused_naming_file_and_key(tmp_path, text, key, hint):
    f = tmp_path / "t.toml"
    f.write_text(text, "utf-8")
    with pytest.raises(TariffFileError) as ei:
        load_tariff_file(f)
    msg = str(ei.value)
    assert str(f) in msg and key in msg and hint in msg
    assert isinstance(ei.value, ConfigurationError)


SEASONS = """
name = "s"
title = "s"
kind = "tiered"
{period}

[[season]]
name = "枯水期"
months = {dry}
  [[season.tier]]
  upto = "180"
  price = "0.5"
  [[season.tier]]
  price = "0.6"

[[season]]
name = "丰水期"
months = [6, 7, 8, 9, 10]
  [[season.tier]]
  upto = "180"
  price = "0.5"
  [[season.tier]]
  price = "0.6"
"""


@pytest.mark.parametrize("dry, period, key, hint", [
    ("[1, 2, 3, 4, 5, 11]", "", "season", "month(s) 12"),
    ("[1, 2, 3, 4, 5, 6, 11, 12]", "", "season[2].months", "repeats month 6"),
    ("[0, 1, 2, 3, 4, 5, 11, 12]", "", "season[1].months", "1–12"),
    ("[1, 2, 3, 4, 5, 11, 12]", 'tier_period = "year"', "season", "Yearly"),
])
def test_bad_seasons(tmp_path, dry, period, key, hint):
    f = tmp_path / "s.toml"
    f.write_text(SEASONS.format(dry=dry, period=period), "utf-8")
    with pytest.raises(TariffFileError) as ei:
        load_tariff_file(f)
    assert key in str(ei.value) and hint in str(ei.value)


def test_good_seasonal_file_loads(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(SEASONS.format(dry="[1, 2, 3, 4, 5, 11, 12]", period=""), "utf-8")
    t = load_tariff_file(f)
    assert [s.name for s in t.seasons] == ["枯水期", "丰水期"]
    assert t.season_for(5).tiers[0].name == "第一档"  # default tier names


def test_unreadable_files(tmp_path):
    with pytest.raises(TariffFileError, match="does not exist"):
        load_tariff_file(tmp_path / "none.toml")
    f = tmp_path / "x.toml"
    f.write_text("[tariff\n", "utf-8")
    with pytest.raises(TariffFileError, match="not valid TOML"):
        load_tariff_file(f)
    f.write_bytes(b"\xff\xfe")
    with pytest.raises(TariffFileError, match="UTF-8"):
        load_tariff_file(f)


def test_unknown_or_unsafe_names_are_refused():
    with pytest.raises(TariffFileError, match="not installed.*sichuan-residential"):
        load_tariff("no-such-tariff")
    with pytest.raises(TariffFileError, match="not installed"):
        load_tariff("../../etc/passwd")


def test_path_to_a_file_is_accepted(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(GOOD, "utf-8")
    assert load_tariff(str(f)).name == "t"


_leaf = (st.none() | st.booleans() | st.integers(-5, 20) | st.floats(allow_nan=True)
         | st.sampled_from(["0.5", "180", "-1", "peak", "峰", "tiered", "flat", "tou", "year", "month", "x", ""]))
_keys = st.sampled_from(["tariff", "id", "name", "kind", "tier_period", "flat", "tier", "season", "months",
                         "upto", "price", "tou", "register", "surcharge", "source", "verified", "title"])
_docs = st.recursive(_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(_keys, c, max_size=6),
                     max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(_keys, _docs, max_size=6))
def test_any_document_loads_or_raises_tariff_file_error(doc):
    try:
        parse_tariff(doc, "fuzz.toml")
    except TariffFileError as e:
        assert "fuzz.toml" in str(e)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


_SAMPLE_DOCS = [tomllib.loads((PACKAGE_DIR / f"{n}.toml").read_text("utf-8")) for n in packaged_names()]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_samples_load_or_raise_tariff_file_error(data):
    """Each sample with one value anywhere replaced: a Tariff, or TariffFileError — nothing else."""
    import copy
    doc = copy.deepcopy(data.draw(st.sampled_from(_SAMPLE_DOCS)))
    path = data.draw(st.sampled_from([p for p in _paths(doc) if p]))
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = data.draw(_docs)
    try:
        parse_tariff(doc, "mutated.toml")
    except TariffFileError as e:
        assert "mutated.toml" in str(e)


def test_tariff_text_from_the_station():
    from terminal_app.tariffs import parse_tariff_text
    text = (PACKAGE_DIR / "flat-commercial.toml").read_text("utf-8")
    assert parse_tariff_text(text, "station:flat-commercial").version == "2026-01"
    with pytest.raises(TariffFileError, match="station:x.*not valid TOML"):
        parse_tariff_text("kind = ", "station:x")
    with pytest.raises(TariffFileError, match="larger than"):
        parse_tariff_text("#" * 70000, "station:big")
