"""The acquirers' wire formats: golden signatures from the published docs, interop with an independent
RSA implementation, and decoders that take any bytes and either decode or raise AcquirerProtocolError."""

from __future__ import annotations

import base64
import json

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hw_mocks.acquirer import wire
from hw_mocks.acquirer.wire import AcquirerProtocolError, SignatureError

# WeChat Pay's signature example (签名算法, pay.weixin.qq.com/wiki/doc/api/*.php?chapter=4_3)
DOC_PARAMS = {"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000", "body": "test",
              "nonce_str": "ibuaiVcKdpRxkhJA"}
DOC_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_wechat_sign_matches_the_published_example_md5_and_hmac_sha256():
    assert wire.wx_string_to_sign(DOC_PARAMS, DOC_KEY) == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        "&key=192006250b4c09247ec02edce69f6a2d")
    assert wire.wx_sign(DOC_PARAMS, DOC_KEY, "MD5") == "9A0A8659F005D6984697E2CA0A9CF3B7"
    assert wire.wx_sign(DOC_PARAMS, DOC_KEY, "HMAC-SHA256") == \
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"


def test_wechat_verify_accepts_the_signed_and_refuses_any_change():
    signed = wire.wx_signed(DOC_PARAMS, DOC_KEY)
    wire.wx_verify(signed, DOC_KEY)
    wire.wx_verify(wire.wx_decode(wire.wx_encode(signed)), DOC_KEY)
    for k in DOC_PARAMS:
        with pytest.raises(SignatureError):
            wire.wx_verify({**signed, k: DOC_PARAMS[k] + "x"}, DOC_KEY)
    with pytest.raises(SignatureError):
        wire.wx_verify(signed, DOC_KEY[:-1] + "e")
    with pytest.raises(SignatureError):
        wire.wx_verify({**signed, "sign_type": "SHA1"}, DOC_KEY)
    with pytest.raises(SignatureError):  # a downgrade to MD5 with the HMAC value is refused
        wire.wx_verify({**signed, "sign_type": "MD5"}, DOC_KEY)
    with pytest.raises(SignatureError):
        wire.wx_verify({k: v for k, v in signed.items() if k != "sign"}, DOC_KEY)


@pytest.mark.parametrize("body", [
    b"",
    b"<xml>",
    b"<notxml><a>1</a></notxml>",
    b'<xml a="1"><b>1</b></xml>',
    b"<xml><a><b>1</b></a></xml>",
    b"<xml><a>1</a><a>2</a></xml>",
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]><xml><a>&e;</a></xml>',
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><a>&lol2;</a></xml>',
    b"<xml><?php x?><a>1</a></xml>",
    b"<xml>text<a>1</a></xml>",
    b"<xml><a>1</a>tail</xml>",
    b"<xml>" + b"<a>1</a>" * 2 + b"</xml>",
    b"<xml><a>" + b"x" * (wire.MAX_BODY + 1) + b"</a></xml>",
])
def test_bad_xml_is_a_protocol_error(body):
    with pytest.raises(AcquirerProtocolError):
        wire.wx_decode(body)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_the_protocols_error(body):
    for decode in (wire.wx_decode, wire.ali_decode_request):
        try:
            decode(body)
        except AcquirerProtocolError:
            pass


@given(st.dictionaries(st.from_regex(r"[a-z][a-z_0-9]{0,15}", fullmatch=True),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40).filter(
                           lambda s: "]]>" not in s), max_size=10))
@example({"a": "<!"})  # markup-like text inside CDATA is a value, not a DTD (hypothesis found it)
@example({"a": "<?php", "b": "<!DOCTYPE x>"})
def test_xml_round_trips(fields):
    decoded = wire.wx_decode(wire.wx_encode(fields))
    # XML normalises CR/CRLF to LF inside text; the acquirers' fields never carry them
    assert decoded == {k: v.replace("\r\n", "\n").replace("\r", "\n") for k, v in fields.items()}


@pytest.fixture(scope="module")
def keys():
    return wire.new_rsa_key(), wire.new_rsa_key()


def test_rsa2_interoperates_with_an_independent_implementation(keys):
    app, _ = keys
    params = {"app_id": "2014072300007148", "method": "alipay.trade.pay", "charset": "utf-8", "sign_type": "RSA2",
              "timestamp": "2014-07-24 03:07:50", "version": "1.0",
              "biz_content": json.dumps({"out_trade_no": "20150320010101001", "scene": "bar_code",
                                         "auth_code": "28763443825664394", "total_amount": "88.88",
                                         "subject": "电费"}, ensure_ascii=False), "empty": ""}
    content = wire.ali_string_to_sign(params)
    assert content.startswith("app_id=2014072300007148&biz_content=") and "&empty=" not in content
    sig = base64.b64decode(wire.rsa2_sign(content, app))
    # pycryptodome verifies what `cryptography` signed: SHA256withRSA, PKCS#1 v1.5, as Alipay's RSA2
    pub = RSA.import_key(wire.public_pem(app.public_key()))
    pkcs1_15.new(pub).verify(SHA256.new(content.encode()), sig)
    # and the other way round
    priv = RSA.import_key(wire.private_pem(app))
    other = base64.b64encode(pkcs1_15.new(priv).sign(SHA256.new(content.encode()))).decode()
    wire.rsa2_verify(content, other, app.public_key())


def test_alipay_request_round_trip_and_tampering(keys):
    app, _ = keys
    params = {"app_id": "2014072300007148", "method": "alipay.trade.query", "charset": "utf-8",
              "sign_type": "RSA2", "timestamp": "2026-12-07 10:00:00", "version": "1.0",
              "biz_content": '{"out_trade_no":"10000001-7"}'}
    req = wire.ali_decode_request(wire.ali_request(params, app))
    wire.ali_verify_request(req, app.public_key())
    with pytest.raises(SignatureError):
        wire.ali_verify_request({**req, "biz_content": '{"out_trade_no":"10000001-8"}'}, app.public_key())
    with pytest.raises(SignatureError):
        wire.ali_verify_request({**req, "sign_type": "RSA"}, app.public_key())
    with pytest.raises(SignatureError):
        wire.ali_verify_request({**req, "sign": "!!notbase64"}, app.public_key())
    with pytest.raises(AcquirerProtocolError):
        wire.ali_decode_request(b"a=1&a=2")


def test_alipay_response_is_verified_over_its_own_text(keys):
    _, platform = keys
    body = wire.ali_response("alipay.trade.pay", {"code": "10000", "msg": "Success", "trade_no": "1"}, platform)
    assert wire.ali_decode_response("alipay.trade.pay", body, platform.public_key())["trade_no"] == "1"
    with pytest.raises(SignatureError):
        wire.ali_decode_response("alipay.trade.pay", body.replace(b'"trade_no":"1"', b'"trade_no":"2"'),
                                 platform.public_key())
    with pytest.raises(AcquirerProtocolError):
        wire.ali_decode_response("alipay.trade.query", body, platform.public_key())
    # a second response object (JSON keeps the last, a naive reader takes the first) is refused
    doubled = body.replace(b'{"alipay_trade_pay_response":', b'{"alipay_trade_pay_response":{"code":"10000"},'
                                                             b'"alipay_trade_pay_response":', 1)
    with pytest.raises(AcquirerProtocolError):
        wire.ali_decode_response("alipay.trade.pay", doubled, platform.public_key())


@given(st.binary(max_size=200))
def test_any_gateway_answer_decodes_or_raises(body):
    try:
        wire.ali_decode_response("alipay.trade.pay", body, _PUB)
    except AcquirerProtocolError:
        pass


_PUB = wire.new_rsa_key().public_key()


@pytest.mark.parametrize("fen, yuan", [(0, "0.00"), (1, "0.01"), (8888, "88.88"), (10_000_000, "100000.00")])
def test_money_in_yuan_is_exact(fen, yuan):
    assert wire.fen_to_yuan(fen) == yuan
    assert wire.yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("bad", ["", "1.", "1.001", "-1.00", "01.00", "1e3", " 1.00", "NaN", "1,00", None, 1.0])
def test_bad_yuan_is_a_protocol_error(bad):
    with pytest.raises(AcquirerProtocolError):
        wire.yuan_to_fen(bad)


@given(st.integers(0, 10**10))
def test_yuan_round_trip(fen):
    assert wire.yuan_to_fen(wire.fen_to_yuan(fen)) == fen
