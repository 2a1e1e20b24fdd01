"""The pure domain of the handheld: no I/O, no clock (times are passed in), no threads.

Modules:
    money       integer fen, Decimal kWh and prices, THE rounding rule (ROUNDING_RULE)
    customer    Customer (用户), Meter (电能表), Segment/Route (抄表段), Arrears (欠费)
    reading     Reading (抄表记录), consumption with rollover and multiplier (倍率)
    validation  reading checks → warnings the operator confirms or answers with an abnormal code
    abnormal    AbnormalCode (抄表异常: 门闭, 表停走, 表损坏, 表倒走, 估抄, 表计未找到, 其他)
    tariff      tariffs as data (flat, tiered 阶梯 by month/year and season, time-of-use) and the engine,
                tier bounds prorated to the reading period (15–62 days)
    penalty     the late-payment penalty (违约金) as of a day: the rule as data, the accrual
    allocation  money spread over unpaid bills (payments and prepayment balances)
    bill        Bill and BillLine (电费账单)
    payment     Payment (收费), Reversal (冲正) and the same-day rule
    dunning     DunningTask (催费任务)
Tariff files and their loader live in terminal_app.tariffs.
"""

from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.bill import Bill, BillLine, LineKind
from terminal_app.domain.customer import Arrears, Customer, Meter, Route, Segment
from terminal_app.domain.dunning import DunningStatus, DunningTask
from terminal_app.domain.errors import InvalidValueError, RecordFormatError
from terminal_app.domain.money import ROUNDING_RULE, ROUNDING_RULE_ZH
from terminal_app.domain.payment import Payment, PaymentMethod, Reversal
from terminal_app.domain.reading import Reading, ReadingSource
from terminal_app.domain.tariff import Tariff, compute_bill
from terminal_app.domain.validation import ReadingCheck, ReadingWarning, ValidationPolicy, WarningKind, check_reading

__all__ = [
    "Abnormal", "AbnormalCode", "Arrears", "Bill", "BillLine", "Customer", "DunningStatus", "DunningTask",
    "InvalidValueError", "LineKind", "Meter", "Payment", "PaymentMethod", "ROUNDING_RULE", "ROUNDING_RULE_ZH",
    "Reading", "ReadingCheck", "ReadingSource", "ReadingWarning", "RecordFormatError", "Reversal", "Route",
    "Segment", "Tariff", "ValidationPolicy", "WarningKind", "check_reading", "compute_bill",
]
