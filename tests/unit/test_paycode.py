"""The customer's payment code: WeChat Pay and Alipay recognised, everything else refused, never shown whole."""

from __future__ import annotations

import gettext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal_app.domain.paycode import (
    MAX_SCAN_CHARS,
    PayChannel,
    PayCode,
    PayCodeError,
    channel_of,
    mask,
    parse_paycode,
    redact,
)
from terminal_app.errors import BusinessRuleError

digits = st.text(alphabet="0123456789", min_size=0, max_size=30)


def wechat_codes():
    return st.builds(lambda p, rest: p + rest, st.sampled_from(["10", "11", "12", "13", "14", "15"]),
                     st.text(alphabet="0123456789", min_size=16, max_size=16))


def alipay_codes():
    return st.builds(lambda p, rest: p + rest, st.sampled_from([str(n) for n in range(25, 31)]),
                     st.integers(14, 22).flatmap(lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)))


@pytest.mark.parametrize("code, channel", [
    ("134567890123456789", PayChannel.WECHAT),   # WeChat: 18 digits, 10–15
    ("101234567890123456", PayChannel.WECHAT),
    ("151234567890123456", PayChannel.WECHAT),
    ("2876344382566439", PayChannel.ALIPAY),     # Alipay: 16 digits (the docs' example is 17)
    ("28763443825664394", PayChannel.ALIPAY),
    ("250000000000000000000000", PayChannel.ALIPAY),  # 24 digits
    ("301234567890123456", PayChannel.ALIPAY),   # 18 digits starting 30: Alipay, not WeChat
])
def test_the_published_formats_are_recognised(code, channel):
    assert parse_paycode(code).channel is channel
    assert parse_paycode(code + "\r\n").secret == code  # a scanner's line ending is not part of the code


@pytest.mark.parametrize("scanned", [
    "",
    "   ",
    "164567890123456789",          # 18 digits starting 16: neither
    "09456789012345678",
    "13456789012345678",           # WeChat prefix, 17 digits
    "1345678901234567890",         # WeChat prefix, 19 digits
    "241234567890123456",          # 24 is not an Alipay prefix
    "311234567890123456",
    "251234567890123",             # Alipay prefix, 15 digits
    "2512345678901234567890123",   # 25 digits
    "13456789012345 6789",         # a space inside
    "１３４５６７８９０１２３４５６７８９",  # full-width digits
    "١٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩",          # Arabic-Indic digits (str.isdigit() would say yes)
    "6901234567892",               # an EAN-13 product barcode
    "fp1234567890123456789012345678901",  # an Alipay face-pay token: not a scanned code
    "1" * (MAX_SCAN_CHARS + 1),
])
def test_anything_else_is_refused_with_a_business_error(scanned):
    with pytest.raises(PayCodeError) as ei:
        parse_paycode(scanned)
    assert isinstance(ei.value, BusinessRuleError)
    assert ei.value.action  # says what to do
    if len(scanned) > 6:  # the message never quotes what was scanned
        assert scanned.strip() not in str(ei.value)


def test_refusal_is_shown_in_chinese_and_english():
    zh = gettext.translation("handheld", localedir="ui/locale", languages=["zh_CN"]).gettext
    with pytest.raises(PayCodeError) as ei:
        parse_paycode("164567890123456789")
    text = ei.value.localized(zh)
    assert "18" in text and "微信" in text and "支付宝" in text
    assert "WeChat" in ei.value.localized(lambda s: s)
    with pytest.raises(PayCodeError) as ei:
        parse_paycode("13456789012345x789")
    assert "数字" in ei.value.localized(zh)
    assert PayCode(PayChannel.WECHAT, "134567890123456789").describe(zh).startswith("微信支付 ")
    assert PayCode(PayChannel.ALIPAY, "28763443825664394").describe(zh).startswith("支付宝 ")


@given(wechat_codes())
def test_every_wechat_code_is_wechat(code):
    assert channel_of(code) is PayChannel.WECHAT
    assert parse_paycode(code).channel is PayChannel.WECHAT


@given(alipay_codes())
def test_every_alipay_code_is_alipay(code):
    assert channel_of(code) is PayChannel.ALIPAY


@given(st.text(max_size=80))
def test_any_text_is_a_code_or_a_pay_code_error(text):
    try:
        code = parse_paycode(text)
    except PayCodeError:
        return
    assert code.secret.isascii() and code.secret.isdigit()
    n, head = len(code.secret), int(code.secret[:2])
    assert (n == 18 and 10 <= head <= 15) or (16 <= n <= 24 and 25 <= head <= 30)


@given(st.one_of(wechat_codes(), alipay_codes()))
def test_no_redacted_form_contains_the_whole_code(code):
    pc = parse_paycode(code)
    for shown in (str(pc), repr(pc), pc.redacted(), redact(pc), redact(code), pc.describe(), pc.masked,
                  f"{pc}", f"{pc!r}", str([pc]), str({"code": pc})):
        assert code not in shown
        # not even the hidden middle survives: at most the first 2 and last 4 digits
        assert sum(c.isdigit() for c in shown) <= 6
    assert redact(pc).startswith(pc.channel.value + ":")
    assert pc.masked[:2] == code[:2] and pc.masked[-4:] == code[-4:] and len(pc.masked) == len(code)


@given(digits)
def test_redacting_a_string_never_leaks_it(text):
    shown = redact(text)
    if len(text) > 6:
        assert text not in shown


def test_a_pay_code_cannot_be_made_with_the_wrong_channel():
    with pytest.raises(ValueError):
        PayCode(PayChannel.ALIPAY, "134567890123456789")


def test_mask_of_short_strings_hides_everything():
    assert mask("12345") == "*****"
