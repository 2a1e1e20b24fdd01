"""GT/1 message types: the contract's core (station-protocol.md) and the ones this project adds.

docs/protocol.md is the catalogue with every request and response body and its error codes;
this module holds the numbers and the error codes both sides use.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class MsgType(IntEnum):
    HELLO = 0x0001
    # 01xx reading (抄表)
    ROUTE_DOWNLOAD = 0x0101  # a segment's customers, meters, last readings, tariffs, arrears (paged)
    READINGS_UPLOAD = 0x0102  # 抄表数据远程上装
    ABNORMAL_REGISTER = 0x0103  # 抄表异常登记
    SEGMENT_LIST = 0x0104  # the segments (表段) the station holds, to choose what to download
    PREMISE_NOTE = 0x0105  # 门牌/注意事项 of a customer's premises, as the electrician edited it
    PHOTO_UPLOAD = 0x0106  # one chunk of a reading's photo (抄表照片), its own sync lane
    # 02xx charging (缴费)
    BILL_QUERY = 0x0201
    PAYMENT = 0x0202
    REVERSAL = 0x0203  # 冲正
    # 03xx dunning (催费)
    DUNNING_TASKS = 0x0301
    ARREARS_CHECK = 0x0302  # real-time check before a disconnection (避免误停电)
    DUNNING_RESULT = 0x0303
    RECONNECTIONS = 0x0304  # 复电任务 of a segment: opened by a cut, released by the payment (paged)
    # 04xx prepaid card (购电)
    CARD_AUTHORIZE = 0x0401
    CARD_CONFIRM = 0x0402
    CARD_REISSUE = 0x0403  # 补卡
    CARD_QUERY = 0x0404
    CARD_CANCEL = 0x0405  # an authorized purchase given up (its write never landed): a QR one refunded
    # 05xx transactions and reference data
    TXN_STATUS = 0x0501
    RECONCILE = 0x0502  # 代收对账
    TARIFFS = 0x0503


class ErrorCode(StrEnum):
    """The "code" of an error response (flag bit2): the contract's common codes and ours."""

    REPLAY = "E_REPLAY"
    BAD_REQUEST = "E_BAD_REQUEST"
    UNKNOWN_CUSTOMER = "E_UNKNOWN_CUSTOMER"
    TXN_CONFLICT = "E_TXN_CONFLICT"
    NOT_ALLOWED = "E_NOT_ALLOWED"
    LIMIT = "E_LIMIT"
    INTERNAL = "E_INTERNAL"
    # project-defined
    UNKNOWN_TYPE = "E_UNKNOWN_TYPE"  # message type not in this catalogue
    UNKNOWN_SEGMENT = "E_UNKNOWN_SEGMENT"
    UNKNOWN_METER = "E_UNKNOWN_METER"  # the meter named is not the customer's
    CARD_COUNT = "E_CARD_COUNT"  # purchase-count rule of the card meter not met
    CARD_REPLACED = "E_CARD_REPLACED"  # the card was replaced by a re-issue (补卡): its meter refuses it
    UNAVAILABLE = "E_UNAVAILABLE"  # function not offered by this station (e.g. no card key holder)
    NOT_ASSIGNED = "E_NOT_ASSIGNED"  # the segment is not assigned to the operator asking (表段分配)
    PAY_REFUSED = "E_PAY_REFUSED"  # a QR payment (付款码) not charged, or its refund refused: "reason" says why


#: message types whose request carries a "txn" and changes state at the station
STATEFUL = frozenset({
    MsgType.READINGS_UPLOAD, MsgType.ABNORMAL_REGISTER, MsgType.PREMISE_NOTE, MsgType.PHOTO_UPLOAD,
    MsgType.PAYMENT, MsgType.REVERSAL,
    MsgType.DUNNING_RESULT, MsgType.CARD_AUTHORIZE, MsgType.CARD_CONFIRM, MsgType.CARD_REISSUE,
    MsgType.CARD_CANCEL,
})
