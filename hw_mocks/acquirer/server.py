"""The mock acquirer's HTTP front: WeChat Pay v2 paths and Alipay's gateway.do, one ThreadingHTTPServer.

    POST /pay/micropay  /pay/orderquery  /secapi/pay/reverse  /secapi/pay/refund  /pay/downloadbill
    POST /gateway.do    alipay.trade.pay | .query | .cancel | .refund | alipay.data.dataservice.bill.downloadurl.query
    GET  /alipay/bill/<token>      the statement file the download URL points to (zip of a GBK CSV)
    GET  /_mock/orders             the books as JSON (codes redacted): what tests check "charged once" against

Every request is bounded (Content-Length required, at most wire.MAX_BODY) and must be signed with the
merchant's key; nonces are not accepted twice.  A scenario's "no answer" holds the request open and
closes it without a byte, as a lost GPRS reply looks to the station.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import secrets
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric import rsa

from hw_mocks.acquirer import wire
from hw_mocks.acquirer.books import Answer, Books, Order, Reply, State
from terminal_app.domain.paycode import PayChannel, channel_of
from terminal_app.timeutil import SHANGHAI

log = logging.getLogger("hw_mocks.acquirer")

_OUT_NO = re.compile(r"[A-Za-z0-9_\-|*]{1,32}")  # WeChat's out_trade_no charset (Alipay allows 64; we use 32)
_ALI_OUT_NO = re.compile(r"[A-Za-z0-9_]{1,64}")  # Alipay's: letters, digits and underscore
_DATE8 = re.compile(r"[0-9]{8}")


@dataclass(frozen=True, slots=True)
class MerchantKeys:
    """What the acquirer knows of its merchant: WeChat ids and API key; Alipay app id, the app's public
    key (verifies requests) and the platform's private key (signs answers)."""

    wx_appid: str
    wx_mch_id: str
    wx_key: str = field(repr=False)
    ali_app_id: str
    ali_app_public: rsa.RSAPublicKey = field(repr=False)
    ali_platform_private: rsa.RSAPrivateKey = field(repr=False)


class AcquirerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], books: Books, keys: MerchantKeys, *, hang_seconds: float = 30.0):
        super().__init__(address, Handler)
        self.books = books
        self.keys = keys
        self.hang_seconds = hang_seconds
        self.stopping = threading.Event()
        self._nonces: OrderedDict[str, None] = OrderedDict()
        self._nonce_lock = threading.Lock()
        self._bills: OrderedDict[str, bytes] = OrderedDict()

    def fresh_nonce(self, nonce: str) -> bool:
        with self._nonce_lock:
            if nonce in self._nonces:
                return False
            self._nonces[nonce] = None
            while len(self._nonces) > 100_000:
                self._nonces.popitem(last=False)
            return True

    def keep_bill(self, data: bytes) -> str:
        token = secrets.token_urlsafe(18)
        with self._nonce_lock:
            self._bills[token] = data
            while len(self._bills) > 64:
                self._bills.popitem(last=False)
        return token

    def bill(self, token: str) -> bytes | None:
        with self._nonce_lock:
            return self._bills.get(token)

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()


class NoAnswer(Exception):
    """The scenario says this call is lost: hold it, then close without a byte."""


class Handler(BaseHTTPRequestHandler):
    server: AcquirerServer
    protocol_version = "HTTP/1.1"
    server_version = "mock-acquirer/1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 — the stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)

    # -- plumbing

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(411, b"Content-Length required", "text/plain")
            return None
        n = int(length)
        if n > wire.MAX_BODY:
            self._send(413, b"too long", "text/plain")
            return None
        self.connection.settimeout(10)
        return self.rfile.read(n)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang(self) -> None:
        self.server.stopping.wait(self.server.hang_seconds)
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 — the stdlib's name
        if self.path == "/_mock/orders":
            self._send(200, json.dumps(self.server.books.snapshot(), ensure_ascii=False).encode(), "application/json")
            return
        m = re.fullmatch(r"/alipay/bill/([A-Za-z0-9_\-]{1,64})", self.path)
        data = self.server.bill(m.group(1)) if m else None
        if data is None:
            self._send(404, b"not found", "text/plain")
            return
        self._send(200, data, "application/zip")

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        if body is None:
            return
        try:
            if self.path == "/gateway.do":
                self._alipay(body)
            elif self.path in WX_ROUTES:
                self._wechat(self.path, body)
            else:
                self._send(404, b"not found", "text/plain")
        except NoAnswer:
            self._hang()

    # ------------------------------------------------------------ WeChat Pay v2

    def _wx_reply(self, fields: dict[str, str], sign_type: str) -> None:
        k = self.server.keys
        out = {"return_code": "SUCCESS", "return_msg": "OK", "appid": k.wx_appid, "mch_id": k.wx_mch_id,
               "nonce_str": secrets.token_hex(16), **fields}
        self._send(200, wire.wx_encode(wire.wx_signed(out, k.wx_key, sign_type)), "text/xml; charset=utf-8")

    def _wx_fail(self, msg: str) -> None:  # communication-level failure: unsigned, as the real one is
        self._send(200, wire.wx_encode({"return_code": "FAIL", "return_msg": msg}), "text/xml; charset=utf-8")

    def _wechat(self, path: str, body: bytes) -> None:
        k = self.server.keys
        try:
            req = wire.wx_decode(body)
        except wire.AcquirerProtocolError:
            self._wx_fail("XML格式错误")
            return
        if req.get("appid") != k.wx_appid or req.get("mch_id") != k.wx_mch_id:
            self._wx_fail("appid和mch_id不匹配")
            return
        try:
            wire.wx_verify(req, k.wx_key)
        except wire.SignatureError:
            self._wx_fail("签名错误")
            return
        nonce = req.get("nonce_str", "")
        if not 1 <= len(nonce) <= 32 or not self.server.fresh_nonce("wx:" + nonce):
            self._wx_fail("nonce_str重复或无效")
            return
        sign_type = req.get("sign_type") or "MD5"
        try:
            fields = WX_ROUTES[path](self, req)
        except (BadField, wire.AcquirerProtocolError) as e:
            fields = {"result_code": "FAIL", "err_code": "PARAM_ERROR", "err_code_des": f"参数错误: {e}"[:128]}
        if fields is None:
            return  # already answered (the bill file)
        self._wx_reply(fields, sign_type)

    def _wx_order_fields(self, o: Order) -> dict[str, str]:
        return {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "trade_type": "MICROPAY", "bank_type": "OTHERS",
                "fee_type": "CNY", "total_fee": str(o.amount), "cash_fee": str(o.amount),
                "transaction_id": o.transaction_id, "out_trade_no": o.out_trade_no,
                "time_end": (o.paid_at or o.created_at).strftime("%Y%m%d%H%M%S")}

    def _wx_micropay(self, req: dict[str, str]) -> dict[str, str]:
        out_no = _need(req, "out_trade_no", _OUT_NO)
        amount = wire.fen_field(req.get("total_fee"), "total_fee")
        code = _need(req, "auth_code", re.compile(r"[0-9]{18}"))
        if channel_of(code) is not PayChannel.WECHAT:
            return _wx_err("AUTH_CODE_INVALID", "请扫描微信支付授权码(以10/11/12/13/14/15为前缀的18位数字)")
        if not 1 <= amount <= 10_000_000:
            return _wx_err("PARAM_ERROR", "total_fee 超出范围")
        a = self.server.books.pay("wechat", out_no, code, amount, req.get("body", "")[:128])
        log.info("wechat micropay %s %s fen: %s", out_no, amount, a.reply.value)
        return self._wx_pay_answer(a)

    def _wx_pay_answer(self, a: Answer) -> dict[str, str]:
        o = a.order
        if a.reply is Reply.NO_ANSWER:
            raise NoAnswer
        if a.reply is Reply.SYSTEM_ERROR:
            return _wx_err("SYSTEMERROR", "系统超时")
        if a.reply is Reply.CONFLICT:
            return _wx_err("OUT_TRADE_NO_USED", "商户订单号重复")
        assert o is not None
        if a.reply is Reply.DUPLICATE:
            if o.state is State.SUCCESS:
                return _wx_err("ORDERPAID", "订单已支付")
            if o.state is State.PAYING:
                return _wx_err("USERPAYING", "需要用户输入支付密码")
            if o.state is State.REVOKED or (o.state is State.CLOSED and not o.amount):
                return _wx_err("ORDERREVERSED", "订单已撤销")
            return _wx_err("ORDERCLOSED", "订单已关闭")
        if a.reply is Reply.PAYING:
            return _wx_err("USERPAYING", "需要用户输入支付密码")
        if a.reply is Reply.FAILED:
            return _wx_err(*WX_FAIL[o.reason])
        return {"result_code": "SUCCESS", **self._wx_order_fields(o)}

    def _wx_orderquery(self, req: dict[str, str]) -> dict[str, str]:
        out_no = _need(req, "out_trade_no", _OUT_NO)
        a = self.server.books.query("wechat", out_no)
        if a.reply is Reply.NO_ANSWER:
            raise NoAnswer
        if a.reply is Reply.SYSTEM_ERROR:
            return _wx_err("SYSTEMERROR", "系统错误")
        if a.reply is Reply.NOT_FOUND or a.order is None or not a.order.amount:
            return _wx_err("ORDERNOTEXIST", "此交易订单号不存在")
        o = a.order
        state = {State.SUCCESS: "REFUND" if o.refunded else "SUCCESS", State.PAYING: "USERPAYING",
                 State.PAYERROR: "PAYERROR", State.CLOSED: "CLOSED", State.REVOKED: "REVOKED"}[o.state]
        desc = {"USERPAYING": "需要用户输入支付密码", "PAYERROR": WX_FAIL.get(o.reason, ("", "支付失败"))[1]}.get(state, "")
        return {"result_code": "SUCCESS", "trade_state": state, "trade_state_desc": desc, **self._wx_order_fields(o)}

    def _wx_reverse(self, req: dict[str, str]) -> dict[str, str]:
        out_no = _need(req, "out_trade_no", _OUT_NO)
        a = self.server.books.reverse("wechat", out_no)
        log.info("wechat reverse %s: %s", out_no, a.reply.value)
        if a.reply is Reply.SYSTEM_ERROR:
            return {**_wx_err("SYSTEMERROR", "系统错误"), "recall": "Y"}
        if a.reply is Reply.FAILED:
            return {**_wx_err("TRADE_ERROR", "订单已部分退款，不能撤销"), "recall": "N"}
        return {"result_code": "SUCCESS", "recall": "N"}

    def _wx_refund(self, req: dict[str, str]) -> dict[str, str]:
        out_no = _need(req, "out_trade_no", _OUT_NO)
        refund_no = _need(req, "out_refund_no", re.compile(r"[A-Za-z0-9_\-|*@]{1,64}"))
        total = wire.fen_field(req.get("total_fee"), "total_fee")
        amount = wire.fen_field(req.get("refund_fee"), "refund_fee")
        a = self.server.books.refund("wechat", out_no, refund_no, amount)
        log.info("wechat refund %s/%s %s fen: %s", out_no, refund_no, amount, a.reply.value)
        if a.reply is Reply.SYSTEM_ERROR:
            return _wx_err("SYSTEMERROR", "系统超时")
        if a.reply is Reply.NOT_FOUND:
            return _wx_err("ORDERNOTEXIST", "此交易订单号不存在")
        assert a.order is not None
        if a.order.amount != total:
            return _wx_err("INVALID_REQUEST", "订单金额不一致")
        if a.reply is Reply.NOT_PAID:
            return _wx_err("TRADE_STATE_ERROR", "订单状态错误")
        if a.reply in (Reply.EXCEEDS, Reply.CONFLICT):
            return _wx_err("INVALID_REQUEST", "退款金额大于可退金额或与原退款请求不一致")
        assert a.refund is not None
        return {"result_code": "SUCCESS", "transaction_id": a.order.transaction_id, "out_trade_no": out_no,
                "out_refund_no": refund_no, "refund_id": a.refund.refund_id, "refund_fee": str(a.refund.amount),
                "total_fee": str(a.order.amount), "cash_fee": str(a.order.amount)}

    def _wx_downloadbill(self, req: dict[str, str]) -> dict[str, str] | None:
        day = _need(req, "bill_date", _DATE8)
        if req.get("bill_type", "ALL") != "ALL":
            return _wx_err("PARAM_ERROR", "bill_type 仅支持 ALL")
        try:
            date = dt.datetime.strptime(day, "%Y%m%d").date()
        except ValueError:
            return _wx_err("PARAM_ERROR", "bill_date 格式错误")
        rows = self.server.books.statement("wechat", date)
        if not rows:
            self._wx_fail("No Bill Exist")
            return None
        self._send(200, wechat_bill(rows, self.server.keys).encode("utf-8"), "text/plain; charset=utf-8")
        return None

    # ------------------------------------------------------------ Alipay gateway

    def _ali_reply(self, method: str, payload: dict[str, object]) -> None:
        body = wire.ali_response(method, payload, self.server.keys.ali_platform_private)
        self._send(200, body, "application/json; charset=utf-8")

    def _alipay(self, body: bytes) -> None:
        k = self.server.keys
        try:
            req = wire.ali_decode_request(body)
        except wire.AcquirerProtocolError:
            self._ali_reply("error", {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter"})
            return
        method = req.get("method", "")
        if method not in ALI_METHODS:
            self._ali_reply("error", {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-method"})
            return
        if req.get("app_id") != k.ali_app_id:
            self._ali_reply(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"})
            return
        try:
            wire.ali_verify_request(req, k.ali_app_public)
        except wire.SignatureError:
            self._ali_reply(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature",
                                     "sub_msg": "验签出错"})
            return
        # the gateway has no nonce, and RSA2 (PKCS#1 v1.5) signs the same request the same way: a retried
        # query or cancel within the same second is byte-identical and legitimate (those calls are
        # idempotent). What the gateway checks is the timestamp: within 15 minutes of its own clock.
        try:
            stamp = dt.datetime.strptime(req.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
            fresh = abs((stamp - dt.datetime.now(SHANGHAI)).total_seconds()) <= 15 * 60
        except ValueError:
            fresh = False
        if not fresh:
            self._ali_reply(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-timestamp"})
            return
        try:
            biz = json.loads(req.get("biz_content", ""))
            if not isinstance(biz, dict) or any(not isinstance(v, (str, int)) for v in biz.values()):
                raise ValueError("biz_content is not a flat object")
            payload = ALI_METHODS[method](self, {k2: str(v) for k2, v in biz.items()})
        except (ValueError, BadField, wire.AcquirerProtocolError, RecursionError):
            payload = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter"}
        self._ali_reply(method, payload)

    def _ali_order(self, o: Order) -> dict[str, object]:
        return {"trade_no": o.transaction_id, "out_trade_no": o.out_trade_no, "buyer_logon_id": "158****1562",
                "total_amount": wire.fen_to_yuan(o.amount)}

    def _ali_pay(self, biz: dict[str, str]) -> dict[str, object]:
        out_no = _need(biz, "out_trade_no", _ALI_OUT_NO)
        if biz.get("scene", "bar_code") != "bar_code":
            raise BadField("scene")
        code = _need(biz, "auth_code", re.compile(r"[0-9]{16,24}"))
        amount = wire.yuan_to_fen(biz.get("total_amount"))
        if channel_of(code) is not PayChannel.ALIPAY:
            return _ali_err("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款")
        if not 1 <= amount <= 10_000_000:
            raise BadField("total_amount")
        a = self.server.books.pay("alipay", out_no, code, amount, biz.get("subject", "")[:128])
        log.info("alipay trade.pay %s %s fen: %s", out_no, amount, a.reply.value)
        o = a.order
        if a.reply is Reply.NO_ANSWER:
            raise NoAnswer
        if a.reply is Reply.SYSTEM_ERROR:
            return {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "ACQ.SYSTEM_ERROR",
                    "sub_msg": "系统错误"}
        if a.reply is Reply.CONFLICT:
            return _ali_err("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        assert o is not None
        if a.reply is Reply.DUPLICATE:
            if o.state is State.SUCCESS:
                return _ali_err("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if o.state is not State.PAYING:
                return _ali_err("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if o.state is State.PAYING:
            return {"code": "10003", "msg": " order success pay inprocess", **self._ali_order(o)}
        if a.reply is Reply.FAILED:
            return _ali_err(*ALI_FAIL[o.reason])
        return {"code": "10000", "msg": "Success", **self._ali_order(o), "receipt_amount": wire.fen_to_yuan(o.amount),
                "gmt_payment": (o.paid_at or o.created_at).strftime("%Y-%m-%d %H:%M:%S")}

    def _ali_query(self, biz: dict[str, str]) -> dict[str, object]:
        out_no = _need(biz, "out_trade_no", _ALI_OUT_NO)
        a = self.server.books.query("alipay", out_no)
        if a.reply is Reply.NO_ANSWER:
            raise NoAnswer
        if a.reply is Reply.SYSTEM_ERROR:
            return {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "ACQ.SYSTEM_ERROR"}
        if a.reply is Reply.NOT_FOUND or a.order is None or not a.order.amount:
            return _ali_err("ACQ.TRADE_NOT_EXIST", "交易不存在")
        o = a.order
        status = {State.SUCCESS: "TRADE_SUCCESS", State.PAYING: "WAIT_BUYER_PAY"}.get(o.state, "TRADE_CLOSED")
        return {"code": "10000", "msg": "Success", **self._ali_order(o), "trade_status": status}

    def _ali_cancel(self, biz: dict[str, str]) -> dict[str, object]:
        out_no = _need(biz, "out_trade_no", _ALI_OUT_NO)
        a = self.server.books.reverse("alipay", out_no)
        log.info("alipay trade.cancel %s: %s", out_no, a.reply.value)
        if a.reply is Reply.SYSTEM_ERROR:
            return {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "ACQ.SYSTEM_ERROR",
                    "retry_flag": "Y"}
        if a.reply is Reply.FAILED:
            return {**_ali_err("ACQ.REASON_TRADE_REFUND_FEE_ERR", "交易已部分退款，不能撤销"), "retry_flag": "N"}
        o = a.order
        assert o is not None
        action = "refund" if o.state is State.REVOKED else "close"
        return {"code": "10000", "msg": "Success", "out_trade_no": out_no, "trade_no": o.transaction_id,
                "retry_flag": "N", "action": action}

    def _ali_refund(self, biz: dict[str, str]) -> dict[str, object]:
        out_no = _need(biz, "out_trade_no", _ALI_OUT_NO)
        request_no = _need(biz, "out_request_no", re.compile(r"[A-Za-z0-9_\-|*@]{1,64}"))
        amount = wire.yuan_to_fen(biz.get("refund_amount"))
        a = self.server.books.refund("alipay", out_no, request_no, amount)
        log.info("alipay trade.refund %s/%s %s fen: %s", out_no, request_no, amount, a.reply.value)
        if a.reply is Reply.SYSTEM_ERROR:
            return {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "ACQ.SYSTEM_ERROR"}
        if a.reply is Reply.NOT_FOUND:
            return _ali_err("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if a.reply is Reply.NOT_PAID:
            return _ali_err("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if a.reply in (Reply.EXCEEDS, Reply.CONFLICT):
            return _ali_err("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        o = a.order
        assert o is not None
        return {"code": "10000", "msg": "Success", "trade_no": o.transaction_id, "out_trade_no": out_no,
                "buyer_logon_id": "158****1562", "fund_change": "N" if a.repeat else "Y",
                "refund_fee": wire.fen_to_yuan(o.refunded)}

    def _ali_bill_url(self, biz: dict[str, str]) -> dict[str, object]:
        if biz.get("bill_type") != "trade":
            raise BadField("bill_type")
        try:
            date = dt.date.fromisoformat(_need(biz, "bill_date", re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")))
        except ValueError as e:
            raise BadField("bill_date") from e
        rows = self.server.books.statement("alipay", date)
        if not rows:
            return _ali_err("isp.bill_not_exist", "账单不存在")
        token = self.server.keep_bill(alipay_bill(rows, date, self.server.keys))
        host, port = self.server.server_address[:2]
        return {"code": "10000", "msg": "Success", "bill_download_url": f"http://{host}:{port}/alipay/bill/{token}"}


class BadField(ValueError):
    pass


def _need(fields: dict[str, str], name: str, pattern: re.Pattern[str]) -> str:
    v = fields.get(name)
    if not isinstance(v, str) or not pattern.fullmatch(v):
        raise BadField(name)
    return v


def _wx_err(code: str, desc: str) -> dict[str, str]:
    return {"result_code": "FAIL", "err_code": code, "err_code_des": desc}


def _ali_err(sub_code: str, sub_msg: str) -> dict[str, object]:
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}


WX_FAIL = {"insufficient_funds": ("NOTENOUGH", "余额不足"), "code_invalid": ("AUTH_CODE_INVALID", "授权码检验错误"),
           "user_cancels": ("TRADE_ERROR", "用户取消支付")}
ALI_FAIL = {"insufficient_funds": ("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"),
            "code_invalid": ("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付授权码无效"),
            "user_cancels": ("ACQ.PAYMENT_FAIL", "用户取消支付")}

WX_ROUTES = {"/pay/micropay": Handler._wx_micropay, "/pay/orderquery": Handler._wx_orderquery,
             "/secapi/pay/reverse": Handler._wx_reverse, "/secapi/pay/refund": Handler._wx_refund,
             "/pay/downloadbill": Handler._wx_downloadbill}
ALI_METHODS = {"alipay.trade.pay": Handler._ali_pay, "alipay.trade.query": Handler._ali_query,
               "alipay.trade.cancel": Handler._ali_cancel, "alipay.trade.refund": Handler._ali_refund,
               "alipay.data.dataservice.bill.downloadurl.query": Handler._ali_bill_url}

# ---------------------------------------------------------------- statement files

WX_BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
                  "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
                  "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
WX_BILL_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


def wechat_bill(rows: list[dict[str, object]], keys: MerchantKeys) -> str:
    """The ALL trade bill: detail lines with every field prefixed by a backtick (so a spreadsheet keeps the
    digits), amounts in yuan; then the summary header and line."""
    lines = [WX_BILL_HEADER]
    paid = refunded = 0
    for r in rows:
        o: Order = r["order"]  # type: ignore[assignment]
        at: dt.datetime = r["at"]  # type: ignore[assignment]
        if r["kind"] == "pay":
            status = "REVOKED" if o.state is State.REVOKED else "SUCCESS"
            paid += o.amount if status == "SUCCESS" else 0
            f = [at.strftime("%Y-%m-%d %H:%M:%S"), keys.wx_appid, keys.wx_mch_id, "", "", o.transaction_id,
                 o.out_trade_no, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "MICROPAY", status, "OTHERS", "CNY",
                 wire.fen_to_yuan(o.amount), "0.00", "0", "0", "0.00", "0.00", "", "", o.subject, "", "0.00000",
                 "0.60%", wire.fen_to_yuan(o.amount), "0.00", ""]
        else:
            rf = r["refund"]
            refunded += rf.amount  # type: ignore[union-attr]
            f = [at.strftime("%Y-%m-%d %H:%M:%S"), keys.wx_appid, keys.wx_mch_id, "", "", o.transaction_id,
                 o.out_trade_no, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "MICROPAY", "REFUND", "OTHERS", "CNY", "0.00",
                 "0.00", rf.refund_id, rf.out_refund_no, wire.fen_to_yuan(rf.amount), "0.00",  # type: ignore[union-attr]
                 "ORIGINAL", "SUCCESS", o.subject, "", "0.00000", "0.60%", "0.00",
                 wire.fen_to_yuan(rf.amount), ""]  # type: ignore[union-attr]
        lines.append(",".join("`" + v for v in f))
    lines.append(WX_BILL_SUMMARY)
    lines.append(",".join("`" + v for v in (str(len(rows)), wire.fen_to_yuan(paid), wire.fen_to_yuan(refunded),
                                              "0.00", "0.00000", wire.fen_to_yuan(paid), wire.fen_to_yuan(refunded))))
    return "\r\n".join(lines) + "\r\n"


ALI_BILL_HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
                   "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
                   "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")


def alipay_bill(rows: list[dict[str, object]], day: dt.date, keys: MerchantKeys) -> bytes:
    """The trade bill as Alipay ships it: a zip holding a GBK CSV of business detail lines (业务明细)
    between ``#`` comment lines.  A reversed payment shows as its 交易 line and a 退款 line."""
    out = ["#支付宝业务明细查询", f"#账号：[{keys.ali_app_id}]",
           f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day + dt.timedelta(days=1):%Y年%m月%d日} 00:00:00]",
           "#-----------------------------------------业务明细列表----------------------------------------",
           ALI_BILL_HEADER]
    pays = refunds = 0
    for r in rows:
        o: Order = r["order"]  # type: ignore[assignment]
        at: dt.datetime = r["at"]  # type: ignore[assignment]
        stamp = at.strftime("%Y-%m-%d %H:%M:%S")
        if r["kind"] == "pay":
            pays += 1
            out.append(",".join([o.transaction_id, o.out_trade_no, "交易", o.subject, o.created_at.strftime(
                "%Y-%m-%d %H:%M:%S"), stamp, "", "", "", "", "158****1562", wire.fen_to_yuan(o.amount),
                wire.fen_to_yuan(o.amount), "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "0.00",
                "0.00", ""]))
        else:
            refunds += 1
            rf = r["refund"]
            amt = "-" + wire.fen_to_yuan(rf.amount)  # type: ignore[union-attr]
            out.append(",".join([o.transaction_id, o.out_trade_no, "退款", o.subject, o.created_at.strftime(
                "%Y-%m-%d %H:%M:%S"), stamp, "", "", "", "", "158****1562", amt, amt, "0.00", "0.00", "0.00",
                "0.00", "0.00", "", "0.00", "0.00", rf.out_refund_no, "0.00", "0.00", ""]))  # type: ignore[union-attr]
    # a reversal of a paid order is a refund line too (the cancel interface gives the money back)
    for r in rows:
        o = r["order"]  # type: ignore[assignment]
        if r["kind"] == "pay" and o.state is State.REVOKED and o.revoked_at and o.revoked_at.date() == day:
            refunds += 1
            amt = "-" + wire.fen_to_yuan(o.amount)
            out.append(",".join([o.transaction_id, o.out_trade_no, "退款", o.subject, o.created_at.strftime(
                "%Y-%m-%d %H:%M:%S"), o.revoked_at.strftime("%Y-%m-%d %H:%M:%S"), "", "", "", "", "158****1562",
                amt, amt, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "0.00", "0.00", "撤销"]))
    out += ["#-----------------------------------------业务明细列表结束------------------------------------",
            f"#交易合计：{pays}笔，退款合计：{refunds}笔",
            f"#导出时间：[{dt.datetime.now(SHANGHAI):%Y年%m月%d日 %H:%M:%S}]"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{keys.ali_app_id}_{day:%Y%m%d}_业务明细.csv", ("\r\n".join(out) + "\r\n").encode("gbk"))
    return buf.getvalue()
