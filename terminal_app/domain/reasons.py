"""The reasons an operator picks from a list, and the text that goes to the station with them.

Each is (code, the Chinese text sent to the master station and printed, the screen's msgid).
The station stores the Chinese the operator chose — never an English msgid — whatever language
the screen is in; the catalogs' zh_CN translation of each msgid is that same Chinese
(tests/unit/test_ui_i18n.py checks it).
"""

from __future__ import annotations

from terminal_app.errors import N_

Reason = tuple[str, str, str]

#: why a reading is typed instead of read over IR (READINGS_UPLOAD "reason")
KEYPAD_REASONS: tuple[Reason, ...] = (
    ("ir_failed", "红外抄不到", N_("IR head cannot read the meter")),
    ("from_display", "看表显示录入", N_("Read from the meter display")),
    ("ir_head_broken", "红外头故障", N_("IR head out of order")),
)
#: why a payment is reversed (REVERSAL "reason")
REVERSAL_REASONS: tuple[Reason, ...] = (
    ("wrong_amount", "金额错误", N_("Wrong amount")),
    ("wrong_customer", "用户错误", N_("Wrong customer")),
    ("duplicate", "重复收费", N_("Charged twice")),
)
#: why the use is far above the customer's usual (READINGS_UPLOAD "note")
JUMP_REASONS: tuple[Reason, ...] = (
    ("new_appliance", "新增用电设备", N_("New appliance")),
    ("seasonal", "季节性用电（抽水、烘烤）", N_("Seasonal use (pumping, drying)")),
    ("more_people", "家中人口增加", N_("More people in the house")),
    ("customer_confirms", "客户确认用电属实", N_("The customer confirms the use")),
)
#: the results of a dunning visit an operator records (DUNNING_RESULT), besides a notice and a cut
DUNNING_RESULT_CHOICES: tuple[Reason, ...] = (
    ("promised", "承诺缴费", N_("Promised to pay")),
    ("not_home", "无人", N_("Nobody at home")),
    ("paid", "已缴清", N_("Paid up")),
)


def text_of(reasons: tuple[Reason, ...], code: str) -> str:
    """The Chinese text of ``code`` (sent to the station); an unknown code is refused."""
    from terminal_app.errors import BusinessRuleError

    for c, zh, _msgid in reasons:
        if c == code:
            return zh
    raise BusinessRuleError("{code} is not one of the listed reasons.", "Pick a reason from the list.",
                            code=code[:20])
