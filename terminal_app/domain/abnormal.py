"""Abnormal reading codes (抄表异常) and the abnormal record the operator registers.

The station message carries the stable machine ``code`` (the values below, as the reference
station lists them in HELLO ``params.abnormal_codes``); screens and paper show ``zh``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from terminal_app.domain.errors import InvalidValueError, RecordFormatError

MAX_TEXT = 60  # characters of free text: one line on the handheld's screen, bounded for the wire


class AbnormalCode(StrEnum):
    """抄表异常 codes; the values never change (they go to the station)."""

    DOOR_LOCKED = "door_locked"            # 门闭
    METER_STOPPED = "meter_stopped"        # 表停走
    METER_DAMAGED = "meter_damaged"        # 表损坏
    RUNNING_BACKWARDS = "running_backwards"  # 表倒走
    ESTIMATED = "estimated"                # 估抄
    METER_NOT_FOUND = "meter_not_found"    # 表计未找到
    METER_REPLACED = "meter_replaced"      # 换表 (the meter on the wall is not the one on record)
    OTHER = "other"                        # 其他 (free text required)

    @property
    def zh(self) -> str:
        return _ZH[self]


_ZH = {
    AbnormalCode.DOOR_LOCKED: "门闭",
    AbnormalCode.METER_STOPPED: "表停走",
    AbnormalCode.METER_DAMAGED: "表损坏",
    AbnormalCode.RUNNING_BACKWARDS: "表倒走",
    AbnormalCode.ESTIMATED: "估抄",
    AbnormalCode.METER_NOT_FOUND: "表计未找到",
    AbnormalCode.METER_REPLACED: "换表",
    AbnormalCode.OTHER: "其他",
}


#: codes that say no value could be taken at all (a visit without a reading)
NO_VALUE_CODES = frozenset({AbnormalCode.DOOR_LOCKED, AbnormalCode.METER_NOT_FOUND})


@dataclass(frozen=True, slots=True)
class Abnormal:
    """One registered abnormality (抄表异常登记): a code and, for 其他, the operator's words."""

    code: AbnormalCode
    text: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, AbnormalCode):
            raise InvalidValueError("Abnormal code {value!r} is unknown.",
                                    "Pick one of the listed abnormal codes.", value=self.code)
        if not isinstance(self.text, str) or len(self.text) > MAX_TEXT or not self.text.isprintable():
            raise InvalidValueError("The abnormal note is too long or has control characters.",
                                    "Write at most {n} characters on one line.", n=MAX_TEXT)
        if self.code is AbnormalCode.OTHER and not self.text.strip():
            raise InvalidValueError("Abnormal code OTHER (其他) needs a description.",
                                    "Type what is wrong with the meter.")

    @property
    def label(self) -> str:
        """What screens and paper show, e.g. '门闭' or '其他：表箱被水淹'."""
        return f"{self.code.zh}：{self.text}" if self.text else self.code.zh

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "text": self.text}

    @classmethod
    def from_dict(cls, d: Any) -> Abnormal:
        if not isinstance(d, dict) or not isinstance(d.get("code"), str):
            raise RecordFormatError("An abnormal record is malformed: {detail}.", detail="no code")
        try:
            code = AbnormalCode(d["code"])
        except ValueError as e:
            raise RecordFormatError("An abnormal record is malformed: {detail}.",
                                    detail=f"unknown code {d['code']!r}") from e
        try:
            return cls(code, d.get("text", ""))
        except InvalidValueError as e:
            raise RecordFormatError("An abnormal record is malformed: {detail}.", detail=e.what) from e
