"""Customers' codes for the mock: the published format, the scenario they pick, their QR picture."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.scanner.camera import decode_image
from hw_mocks.acquirer import scenarios
from hw_mocks.acquirer.codes import code_png, customer_code, selector
from terminal_app.domain.paycode import PayChannel, parse_paycode
from terminal_app.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("channel", list(PayChannel))
def test_every_scenario_has_a_code_of_the_channels_format_that_picks_it(channel):
    book = scenarios.load()
    rng = random.Random(17)
    for name in book.named:
        for _ in range(20):
            code = customer_code(channel, name, book, rng)
            assert parse_paycode(code).channel is channel
            assert book.for_code(code).name == name


def test_an_unselectable_scenario_is_a_configuration_error():
    book = scenarios.load()
    assert book.by_suffix.get(selector("success", book)).name == "success"
    with pytest.raises(ConfigurationError):
        selector("no-such-scenario", book)


@pytest.mark.parametrize("channel", list(PayChannel))
def test_the_qr_picture_decodes_to_the_code_through_the_camera_path(channel, tmp_path):
    code = customer_code(channel, "user_paying_then_success")
    png = tmp_path / "code.png"
    png.write_bytes(code_png(code))
    assert [(b.data, b.symbology) for b in decode_image(png)] == [(code, "QRCODE")]


def test_the_cli_prints_a_code_and_writes_its_picture(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hw_mocks.cli", "acquirer", "--customer-code", "alipay:user_cancels",
                          "--png", str(tmp_path / "c.png")], cwd=ROOT, capture_output=True, text=True, check=True)
    code = out.stdout.strip()
    assert parse_paycode(code).channel is PayChannel.ALIPAY and code.endswith("0002")
    assert decode_image(tmp_path / "c.png")[0].data == code
    bad = subprocess.run([sys.executable, "-m", "hw_mocks.cli", "acquirer", "--customer-code", "cash:success"],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and "wechat or alipay" in bad.stderr
