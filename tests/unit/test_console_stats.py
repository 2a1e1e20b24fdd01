"""The console's statistics helpers: the township of an address and the server-drawn chart."""

from hw_mocks.station.console.stats import bar_chart_svg, township


def test_township_is_the_xiang_or_zhen_of_the_address():
    assert township("四川省仪陇县石佛乡桂花村1组1号") == "石佛乡"
    assert township("四川省仪陇县新政镇某街3号") == "新政镇"
    assert township("no township here") == "-"


def test_the_chart_draws_one_bar_per_key_scaled_to_the_largest_and_escapes_keys():
    svg = bar_chart_svg([("a<b", 1, 100), ("c", 2, 50)], width=640)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "a&lt;b" in svg and "a<b" not in svg
    widths = [int(w) for w in __import__("re").findall(r'<rect x="\d+" y="\d+" width="(\d+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert "1.00" in svg and "0.50" in svg
