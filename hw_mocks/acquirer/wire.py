"""The acquirers' wire formats, sans-IO: bytes in → fields out, fields in → bytes out, and the signatures.

WeChat Pay v2 (付款码支付 and its query, reverse, refund and bill download): a flat ``<xml>`` document
of string fields, signed by the merchant's API key.  The sign is computed over the non-empty fields
other than ``sign``, sorted by name, joined as ``k=v&…``, with ``&key=<API key>`` appended; MD5 or
HMAC-SHA256 (keyed by the API key too), upper-case hex.  Responses are signed the same way.

Alipay OpenAPI (``gateway.do``: alipay.trade.pay / query / cancel / refund, bill download URL): a
form-encoded request whose parameters, other than ``sign``, are sorted and joined as ``k=v&…`` and
signed RSA2 (SHA256withRSA, PKCS#1 v1.5) by the merchant's app key; the answer is JSON
``{"<method>_response": {...}, "sign": "..."}`` whose ``sign`` covers the exact text of the response
object, signed by Alipay's platform key.

Every decoder takes any bytes and either returns fields or raises :class:`AcquirerProtocolError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from terminal_app.errors import RemoteProtocolError

#: the largest request or answer either side reads (a bill file is fetched separately, bounded apart)
MAX_BODY = 32 * 1024
#: the most fields one message may carry, and the longest value (WeChat's longest field, ``detail``, is 6000)
MAX_FIELDS = 64
MAX_VALUE = 8192
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: longest statement file either side will read
MAX_BILL = 8 * 1024 * 1024

WX_SIGN_TYPES = ("MD5", "HMAC-SHA256")


class AcquirerProtocolError(RemoteProtocolError):
    """The acquirer (or, in the mock, its client) sent bytes that break the published format."""

    default_action = "The payment service answered in a way the station cannot read; query the order before charging again."


class SignatureError(AcquirerProtocolError):
    """A message's signature does not verify: it was not made with the agreed key, or it was altered."""


# ---------------------------------------------------------------- money


def fen_to_yuan(fen: int) -> str:
    """Alipay's ``Price``: yuan with two decimals, from integer fen (``8888`` → ``"88.88"``)."""
    if not isinstance(fen, int) or isinstance(fen, bool) or fen < 0:
        raise ValueError(f"amount in fen must be a non-negative int, not {fen!r}")
    return f"{fen // 100}.{fen % 100:02d}"


_YUAN_RE = re.compile(r"(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,2}))?")


def yuan_to_fen(text: object) -> int:
    """Integer fen from a yuan amount with at most two decimals; anything else is a protocol error."""
    if not isinstance(text, str) or not _YUAN_RE.fullmatch(text):
        raise AcquirerProtocolError("An amount {value!r} is not yuan with at most two decimals.", value=str(text)[:20])
    return int(Decimal(text) * 100)


def fen_field(text: object, name: str) -> int:
    """WeChat's ``total_fee`` style: integer fen as decimal digits, bounded."""
    if not isinstance(text, str) or not re.fullmatch(r"(0|[1-9][0-9]{0,10})", text):
        raise AcquirerProtocolError("Field {field} {value!r} is not an amount in fen.", field=name, value=str(text)[:20])
    return int(text)


# ---------------------------------------------------------------- WeChat Pay v2


def wx_string_to_sign(params: Mapping[str, str], key: str) -> str:
    items = sorted((k, v) for k, v in params.items() if k != "sign" and v != "")
    return "&".join(f"{k}={v}" for k, v in items) + f"&key={key}"


def wx_sign(params: Mapping[str, str], key: str, sign_type: str | None = None) -> str:
    """The v2 signature of ``params`` (``sign_type`` from the fields, MD5 when absent, as the docs say)."""
    sign_type = sign_type or params.get("sign_type") or "MD5"
    data = wx_string_to_sign(params, key).encode("utf-8")
    if sign_type == "MD5":
        return hashlib.md5(data).hexdigest().upper()  # noqa: S324 — the published algorithm, kept for interop
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest().upper()
    raise SignatureError("Sign type {value!r} is not MD5 or HMAC-SHA256.", value=sign_type[:20])


def wx_verify(params: Mapping[str, str], key: str) -> None:
    """Raise :class:`SignatureError` unless ``params['sign']`` is the signature of the other fields
    (compared in constant time)."""
    given = params.get("sign", "")
    sign_type = params.get("sign_type") or "MD5"
    if sign_type not in WX_SIGN_TYPES:
        raise SignatureError("Sign type {value!r} is not MD5 or HMAC-SHA256.", value=sign_type[:20])
    expected = wx_sign(params, key, sign_type)
    if not hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii")):
        raise SignatureError("The WeChat Pay message's signature does not verify.")


def wx_signed(params: Mapping[str, str], key: str, sign_type: str = "HMAC-SHA256") -> dict[str, str]:
    out = {k: v for k, v in params.items() if v is not None}
    if sign_type != "MD5":
        out["sign_type"] = sign_type
    out["sign"] = wx_sign(out, key, sign_type)
    return out


def wx_encode(params: Mapping[str, str]) -> bytes:
    """A flat ``<xml>`` document; every value in CDATA (as the published examples do)."""
    parts = ["<xml>"]
    for k, v in params.items():
        if not _NAME_RE.fullmatch(k):
            raise ValueError(f"field name {k!r} cannot be carried")
        v = str(v)
        if "]]>" in v or len(v) > MAX_VALUE:
            raise ValueError(f"field {k} cannot be carried in CDATA")
        parts.append(f"<{k}><![CDATA[{v}]]></{k}>")
    parts.append("</xml>")
    return "".join(parts).encode("utf-8")


_FORBIDDEN_XML = re.compile(rb"<!(?!\[CDATA\[)|<\?(?!xml[ ?])", re.IGNORECASE)
#: a CDATA section's content is text: "<!" or "<?" inside a value is no markup (only outside counts)
_CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>", re.DOTALL)


def wx_decode(body: bytes) -> dict[str, str]:
    """The fields of a flat ``<xml>`` document.  No DTD, entity, processing instruction, attribute,
    nesting or repeated field is accepted (a peer has no use for them, an attacker has)."""
    if not isinstance(body, (bytes, bytearray)):
        raise AcquirerProtocolError("An XML message must be bytes.")
    if len(body) > MAX_BODY:
        raise AcquirerProtocolError("An XML message of {n} bytes is longer than {max}.", n=len(body), max=MAX_BODY)
    if _FORBIDDEN_XML.search(_CDATA.sub(b"", bytes(body))):
        raise AcquirerProtocolError("An XML message carries a DTD, entity or processing instruction.")
    try:
        root = ET.fromstring(bytes(body))
    except (ET.ParseError, ValueError, UnicodeError, LookupError) as e:
        raise AcquirerProtocolError("A message is not well-formed XML.", error=e) from e
    if root.tag != "xml" or root.attrib or (root.text or "").strip():
        raise AcquirerProtocolError("A message's root is not a bare <xml> element.")
    out: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str) or not _NAME_RE.fullmatch(child.tag) or child.attrib or len(child):
            raise AcquirerProtocolError("A message field is not a plain named value.")
        if child.tag in out:
            raise AcquirerProtocolError("Field {field} appears twice.", field=child.tag)
        if (child.tail or "").strip():
            raise AcquirerProtocolError("A message has text between its fields.")
        value = child.text or ""
        if len(value) > MAX_VALUE:
            raise AcquirerProtocolError("Field {field} is longer than {max} characters.", field=child.tag, max=MAX_VALUE)
        out[child.tag] = value
        if len(out) > MAX_FIELDS:
            raise AcquirerProtocolError("A message has more than {max} fields.", max=MAX_FIELDS)
    return out


# ---------------------------------------------------------------- Alipay OpenAPI (RSA2)


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ValueError("an RSA2 key must be RSA of at least 2048 bits")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise ValueError("an RSA2 key must be RSA of at least 2048 bits")
    return key


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def ali_string_to_sign(params: Mapping[str, str]) -> str:
    """The request's content to sign: every non-empty parameter but ``sign``, sorted, ``k=v&…``."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def rsa2_sign(content: str, key: rsa.RSAPrivateKey) -> str:
    return base64.b64encode(key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def rsa2_verify(content: str, sign: str, key: rsa.RSAPublicKey) -> None:
    try:
        raw = base64.b64decode(sign.encode("ascii"), validate=True)
        key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, UnicodeError) as e:
        raise SignatureError("The Alipay message's RSA2 signature does not verify.") from e


def ali_request(params: Mapping[str, str], key: rsa.RSAPrivateKey) -> bytes:
    """The form-encoded body of a signed gateway request."""
    out = dict(params)
    out["sign"] = rsa2_sign(ali_string_to_sign(out), key)
    return urlencode(out).encode("ascii")


def ali_decode_request(body: bytes) -> dict[str, str]:
    """The parameters of a form-encoded gateway request (each at most once, bounded)."""
    if not isinstance(body, (bytes, bytearray)) or len(body) > MAX_BODY:
        raise AcquirerProtocolError("A gateway request is empty or longer than {max} bytes.", max=MAX_BODY)
    try:
        pairs = parse_qsl(bytes(body).decode("ascii"), keep_blank_values=True, strict_parsing=True,
                          max_num_fields=MAX_FIELDS, errors="strict")
    except (ValueError, UnicodeError) as e:
        raise AcquirerProtocolError("A gateway request is not form-encoded UTF-8.", error=e) from e
    out: dict[str, str] = {}
    for k, v in pairs:
        if not _NAME_RE.fullmatch(k) or k in out or len(v) > MAX_VALUE:
            raise AcquirerProtocolError("A gateway request has a bad or repeated parameter.")
        out[k] = v
    return out


def ali_verify_request(params: Mapping[str, str], key: rsa.RSAPublicKey) -> None:
    if params.get("sign_type") != "RSA2":
        raise SignatureError("Sign type {value!r} is not RSA2.", value=str(params.get("sign_type"))[:20])
    rsa2_verify(ali_string_to_sign(params), params.get("sign", ""), key)


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def ali_response(method: str, payload: Mapping[str, object], key: rsa.RSAPrivateKey) -> bytes:
    """The gateway's signed answer: the response object's exact text is what is signed."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    sign = rsa2_sign(text, key)
    return f'{{"{response_key(method)}":{text},"sign":"{sign}"}}'.encode()


def ali_decode_response(method: str, body: bytes, key: rsa.RSAPublicKey) -> dict[str, object]:
    """The response object of a gateway answer after checking its signature over the object's own text
    (found where the answer has it, as the SDKs do: re-serialising could change the bytes)."""
    if not isinstance(body, (bytes, bytearray)) or len(body) > MAX_BODY:
        raise AcquirerProtocolError("A gateway answer is empty or longer than {max} bytes.", max=MAX_BODY)
    try:
        text = bytes(body).decode("utf-8")
        whole = json.loads(text)
    except (ValueError, UnicodeError, RecursionError) as e:
        raise AcquirerProtocolError("A gateway answer is not JSON.", error=e) from e
    name = response_key(method)
    if not isinstance(whole, dict) or not isinstance(whole.get(name), dict) or not isinstance(whole.get("sign"), str):
        raise AcquirerProtocolError("A gateway answer lacks {field} or its sign.", field=name)
    start = text.find(f'"{name}"')
    colon = text.find(":", start + len(name) + 2)
    begin = colon + 1
    while begin < len(text) and text[begin] in " \t\r\n":
        begin += 1
    try:
        obj, end = json.JSONDecoder().raw_decode(text, begin)
    except ValueError as e:
        raise AcquirerProtocolError("A gateway answer's response object cannot be found.", error=e) from e
    if obj != whole[name]:  # a second key of the same name earlier or later in the text: refuse
        raise AcquirerProtocolError("A gateway answer carries {field} twice.", field=name)
    rsa2_verify(text[begin:end], whole["sign"], key)
    return obj
