"""The demo supply area: rural Sichuan customers, meters, bills, arrears and dunning tasks.

Deterministic: the records are a pure function of ``(seed, as_of)`` (``random.Random(seed)``;
``as_of`` fixes the billing months), so QA and tests see the same customers every time.

Shape (defaults): 600 customers in 2 townships (乡) × 3 villages (村); each village is one
reading segment (表段) of about 100 customers in several groups (组).  About 10 % are prepaid
card meters, about 15 % older DL/T 645-1997 meters, a quarter owe one to three months, and
those owing more get a dunning task.  The station computes the penalty (违约金) on the unpaid
bills day by day (docs/billing.md): the seed issues every bill with nothing accrued, so moving the
station's clock shows the penalties growing.  Village shops and pumping stations are of the
``other`` (非居民) penalty category.  About one owing customer in eight also has a prepayment
balance, which pays its bills when the area is loaded (预存抵扣).  Segment 010301 (马鞍村) is read
every two months (双月抄表): its last readings are 61 days before ``as_of``, the others' 30.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal

from hw_mocks.station.area import Bill, Customer, DunningTask, Usage, packaged_tariffs

COUNTY = "四川省仪陇县"
TOWNSHIPS = (("石佛乡", ("桂花村", "双河村", "马鞍村")), ("青龙乡", ("柏林村", "龙泉村", "红岩村")))
# common surnames in rural Sichuan, the frequent ones listed more than once
SURNAMES = ("王王王李李李张张刘刘陈陈杨杨黄赵周吴何何罗罗邓唐谢曾蒋彭冯杜袁胡徐郭苟母廖向代文蒲鲜"
            "雷侯宋任龚程孙范田兰")
GIVEN = "秀英桂兰玉华德明国强建平志刚永福文学光荣春林海清正芳淑珍世远大成家云翠琼仕贵长兴"
# average 元/kWh of past bills per tariff (the bills are history: the station does not re-rate them)
PRICES = {"sichuan-residential": Decimal("0.5224"), "flat-agricultural": Decimal("0.4800"),
          "flat-commercial": Decimal("0.6788")}
#: the segment read every two months (双月抄表) and its reading interval; the others are read monthly
BIMONTHLY_SEGMENT = "010301"
READ_INTERVAL_DAYS = {BIMONTHLY_SEGMENT: 61}
MONTHLY_DAYS = 30


DEFAULT_AS_OF = dt.date(2026, 11, 24)
#: the demo operator (the simulator's 1001 / 123456) every demo segment is assigned to
DEMO_OPERATOR = "1001"


def _fen(x: Decimal) -> int:
    # the project's one rounding rule for money: half up, to the fen
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _month_back(as_of: dt.date, n: int) -> dt.date:
    y, m = divmod(as_of.year * 12 + as_of.month - 1 - n, 12)
    return dt.date(y, m + 1, 1)


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.8 else "")
    return rng.choice(SURNAMES) + given


def generate(seed: int = 1, as_of: dt.date | None = None, customers: int = 600
             ) -> tuple[list[Customer], list[Bill], list[DunningTask]]:
    """The demo area's records (not yet in a ledger: see :func:`load`)."""
    custs, bills, tasks, _usage = generate_area(seed, as_of, customers)
    return custs, bills, tasks


#: a notice served on an earlier visit to a customer with a disconnection task, and its deadline
NOTICE_SERVED_DAYS_AGO, NOTICE_PAY_WITHIN_DAYS = 14, 7


def generate_area(seed: int = 1, as_of: dt.date | None = None, customers: int = 600
                  ) -> tuple[list[Customer], list[Bill], list[DunningTask], list[Usage]]:
    """The demo area's records with each customer's billed use of the last three months (the
    station's "usual use"); disconnection tasks come with a notice served two weeks before
    ``as_of`` whose deadline has passed — the demo's lawful cuts."""
    as_of = as_of or DEFAULT_AS_OF
    usage: list[Usage] = []
    usage_rng = random.Random(seed * 7919 + 13)  # its own stream: the main one stays as it was
    rng = random.Random(seed)
    # draws added by issue 14 come from their own stream, so every earlier customer stays the same
    extra = random.Random(seed * 7919 + 14)
    villages = [(t_i, t_name, v_i, v_name) for t_i, (t_name, vs) in enumerate(TOWNSHIPS, 1)
                for v_i, v_name in enumerate(vs, 1)]
    custs: list[Customer] = []
    bills: list[Bill] = []
    tasks: list[DunningTask] = []
    in_segment: dict[str, int] = {}
    def read_at(segment: str) -> dt.datetime:
        day = as_of - dt.timedelta(days=READ_INTERVAL_DAYS.get(segment, MONTHLY_DAYS))
        return dt.datetime(day.year, day.month, day.day, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    for i in range(customers):
        t_i, t_name, v_i, v_name = villages[i * len(villages) // customers]
        segment = f"{t_i:02d}{v_i:02d}01"
        n_in_seg = in_segment[segment] = in_segment.get(segment, 0) + 1
        group = 1 + (n_in_seg - 1) // 18
        cust = f"{segment}{n_in_seg:04d}"
        r = rng.random()
        tariff = "flat-agricultural" if r < 0.08 else "flat-commercial" if r < 0.13 else "sichuan-residential"
        name = _name(rng)
        if tariff == "flat-commercial":
            name = f"{name[0]}记{rng.choice(('小卖部', '农家乐', '碾米坊', '副食店'))}"
        elif tariff == "flat-agricultural":
            name = f"{v_name[:-1]}{group}组{rng.choice(('提灌站', '抽水站', '粮食加工'))}"
        card = rng.random() < 0.10
        standard = "1997" if rng.random() < 0.15 and not card else "2007"
        mfr = rng.choice((101, 137, 203, 318, 422))
        asset = f"51300{mfr:03d}{rng.randrange(10**5):05d}{i + 1:09d}"
        comm_addr = f"{rng.randrange(10**4):04d}{i + 1:08d}"
        last_value = f"{Decimal(rng.randrange(10_000, 2_000_000)) / 100:.2f}"
        addr = f"{COUNTY}{t_name}{v_name}{group}组{rng.randrange(1, 60)}号"
        owes = 0 if card else rng.choices((0, 1, 2, 3), (75, 14, 7, 4))[0]
        balance = rng.randrange(1_000, 20_000) if not card and not owes and rng.random() < 0.10 else 0
        if owes and extra.random() < 0.125:
            balance = extra.randrange(2_000, 12_000)  # money left with the office earlier: pays the bills
        category = "residential" if tariff == "sichuan-residential" else "other"
        custs.append(Customer(cust, name, addr, segment, f"{t_name}{v_name}", asset, comm_addr, standard, card,
                              tariff, last_value, read_at(segment).isoformat(), balance,
                              rng.randrange(1, 30) if card else 0, category))
        if card:
            for back in range(1, 4):
                period = _month_back(as_of, back)
                usage.append(Usage(cust, f"{period:%Y-%m}", str(usage_rng.randrange(30, 300)),
                                   calendar.monthrange(period.year, period.month)[1]))
            continue
        price = PRICES[tariff]
        total_owed = 0
        for back in range(1, 4):
            period = _month_back(as_of, back)
            kwh = rng.randrange(30, 400 if tariff != "flat-agricultural" else 900)
            usage.append(Usage(cust, f"{period:%Y-%m}", str(kwh), calendar.monthrange(period.year, period.month)[1]))
            amount = _fen(price * kwh * 100)
            due_month = _month_back(as_of, back - 1)
            due = dt.date(due_month.year, due_month.month, 15)
            if back <= owes:
                # nothing accrued at issue: the station counts the penalty to the day it is asked
                bills.append(Bill(cust, f"{period:%Y-%m}", amount, 0, due.isoformat()))
                total_owed += amount
            else:
                bills.append(Bill(cust, f"{period:%Y-%m}", amount, 0, due.isoformat(), paid_amount=amount))
        if owes >= 2 or total_owed >= 5_000:
            action = "disconnect" if owes >= 3 or total_owed >= 30_000 else "notice"
            served = pay_by = None
            if action == "disconnect":
                served = (as_of - dt.timedelta(days=NOTICE_SERVED_DAYS_AGO)).isoformat()
                pay_by = (as_of - dt.timedelta(days=NOTICE_SERVED_DAYS_AGO - NOTICE_PAY_WITHIN_DAYS)).isoformat()
            tasks.append(DunningTask(f"CF{as_of:%Y%m}{len(tasks) + 1:05d}", cust, action, as_of.isoformat(),
                                     served, pay_by))
    return custs, bills, tasks, usage


def load(conn, seed: int = 1, as_of: dt.date | None = None, customers: int = 600,
         operator: str | None = DEMO_OPERATOR) -> dict[str, int]:
    """Generate the demo area and insert it (with the packaged tariffs) into an empty ledger;
    every segment is assigned (表段分配) to ``operator`` (None: to nobody yet)."""
    as_of = as_of or DEFAULT_AS_OF
    custs, bills, tasks, usage = generate_area(seed, as_of, customers)
    from hw_mocks.station import assignments
    from hw_mocks.station.area import insert
    counts = insert(conn, packaged_tariffs(), custs, bills, tasks, usage, as_of=as_of)
    if operator is not None:
        assignments.assign(conn, [(seg, operator) for seg in sorted({c.segment for c in custs})], by="seed")
    return counts
