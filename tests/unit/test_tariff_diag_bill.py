"""``handheld diag bill``: JSON output matching hand-computed bills, and exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from terminal_app.cli import main
from terminal_app.domain.money import ROUNDING_RULE

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    rc = main(["diag", "bill", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_sichuan_300_kwh_january_process():
    """The brief's acceptance command, run as a separate process through the real entry point."""
    script = Path(sys.executable).with_name("handheld")  # the installed console script
    cmd = [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys; from terminal_app.cli import main; sys.exit(main())"]
    proc = subprocess.run([*cmd, "diag", "bill", "--tariff", "sichuan-residential", "--kwh", "300",
                           "--month", "2026-01"],
                          cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    bill = json.loads(proc.stdout.decode("utf-8"))
    # 180 × 0.5224 = 94.032 → 9403; 100 × 0.6224 = 62.24 → 6224; 20 × 0.8224 = 16.448 → 1645
    # total 9403 + 6224 + 1645 = 17272 fen
    assert bill == {
        "tariff": "sichuan-residential", "month": "2026-01", "kwh": "300",
        "lines": [{"name": "第一档", "kwh": "180", "price": "0.5224", "amount": 9403},
                  {"name": "第二档", "kwh": "100", "price": "0.6224", "amount": 6224},
                  {"name": "第三档", "kwh": "20", "price": "0.8224", "amount": 1645}],
        "total": 17272, "rounding": ROUNDING_RULE}


def test_yearly_tier_usage(capsys):
    rc, out, _ = run(capsys, "--tariff", "zhejiang-residential-yearly", "--kwh", "300", "--month", "2026-11",
                     "--tier-usage", "2600")
    assert rc == 0
    bill = json.loads(out)
    # (2760 − 2600) × 0.538 = 86.08 → 8608; (2900 − 2760) × 0.588 = 82.32 → 8232; total 16840
    assert [(ln["kwh"], ln["amount"]) for ln in bill["lines"]] == [("160", 8608), ("140", 8232)]
    assert bill["total"] == 16840


def test_time_of_use_by_register(capsys):
    rc, out, _ = run(capsys, "--tariff", "tou-sample", "--month", "2026-03",
                     "--kwh-by-register", "峰=10, flat=20,valley=30")
    assert rc == 0
    bill = json.loads(out)
    # 10 × 0.8151 = 8.151 → 815; 20 × 0.5434 = 10.868 → 1087; 30 × 0.2717 = 8.151 → 815; total 2717
    assert [(ln["name"], ln["amount"]) for ln in bill["lines"]] == [("峰", 815), ("平", 1087), ("谷", 815)]
    assert bill["total"] == 2717 and bill["kwh"] == "60"
    assert all(isinstance(ln["price"], str) and isinstance(ln["amount"], int) for ln in bill["lines"])


def test_list(capsys):
    rc, out, _ = run(capsys, "--list")
    assert rc == 0 and "sichuan-residential" in json.loads(out)["tariffs"]


@pytest.mark.parametrize("argv, needle", [
    (["--tariff", "sichuan-residential", "--kwh", "abc", "--month", "2026-01"], "not a non-negative decimal"),
    (["--tariff", "sichuan-residential", "--kwh", "-5", "--month", "2026-01"], "not a non-negative decimal"),
    (["--tariff", "sichuan-residential", "--kwh", "1e3", "--month", "2026-01"], "not a non-negative decimal"),
    (["--tariff", "sichuan-residential", "--kwh", "300", "--month", "2026-13"], "2026-13"),
    (["--tariff", "sichuan-residential", "--kwh", "300", "--month", "January"], "YYYY-MM"),
    (["--tariff", "nowhere", "--kwh", "300", "--month", "2026-01"], "not installed"),
    (["--tariff", "sichuan-residential", "--kwh", "300"], "missing --month"),
    (["--tariff", "sichuan-residential", "--month", "2026-01"], "missing --kwh"),
    (["--tariff", "flat-commercial", "--kwh", "3", "--month", "2026-01", "--tier-usage", "5"], "no tiers"),
    (["--tariff", "tou-sample", "--kwh", "3", "--month", "2026-01"], "time-of-use"),
    (["--tariff", "tou-sample", "--kwh-by-register", "peak:3", "--month", "2026-01"], "REGISTER=KWH"),
    (["--tariff", "tou-sample", "--kwh-by-register", "peak=1,peak=2", "--month", "2026-01"], "twice"),
    (["--tariff", "sichuan-residential", "--kwh", "9" * 300, "--month", "2026-01"], "too long"),
])
def test_bad_input_exits_2_with_a_message(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert out == ""
    assert needle in err and err.startswith("handheld diag bill:")


def test_bad_tariff_file_exits_2(capsys, tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text('name = "b"\ntitle = "b"\nkind = "flat"\n[flat]\nprice = 0.5\n', "utf-8")
    rc, _, err = run(capsys, "--tariff", str(f), "--kwh", "1", "--month", "2026-01")
    assert rc == 2 and "flat.price" in err and str(f) in err
