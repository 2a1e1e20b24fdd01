"""The printer driver against the mock printer over a real pty: what is printed, faults, retry."""

from __future__ import annotations

import os

import pytest

from drivers.printer import COPY_MARK, CoverOpenError, PaperOutError, PrinterOfflineError, ThermalPrinter
from drivers.printer.ticket import PrintOutcome
from hw_mocks.printer import MockPrinter, PrinterScenario, load_scenario
from terminal_app.cli import main as handheld
from terminal_app.documents import templates
from terminal_app.errors import DeviceTimeoutError
from tests.unit.test_printer_layout import all_documents, receipt_data
from tests.util import wait_for


@pytest.fixture
def mock(tmp_path):
    with MockPrinter(link=tmp_path / "ttyPrinter", out_dir=tmp_path / "out") as printer:
        yield printer


@pytest.fixture
def printer(mock):
    with ThermalPrinter(mock.path, status_timeout=0.5) as driver:
        yield driver


class Journal:
    """What the caller keeps: identities whose original is printed or in doubt."""

    def __init__(self) -> None:
        self.printed: list[str] = []

    def mark(self, identity: str) -> None:
        self.printed.append(identity)

    def print(self, driver: ThermalPrinter, ticket):
        return driver.print_ticket(ticket, already_printed=ticket.identity in self.printed,
                                   mark_printed=self.mark)


@pytest.mark.parametrize("qr_native", [False, True], ids=["raster-qr", "native-qr"])
def test_every_document_prints_exactly_its_lines(mock, qr_native, tmp_path):
    docs = all_documents()
    with ThermalPrinter(mock.path, qr_native=qr_native) as driver:
        for doc in docs:
            assert driver.print_ticket(doc, already_printed=False).original
    tickets = mock.wait_for_tickets(len(docs))
    for doc, printed in zip(docs, tickets, strict=True):
        assert printed.lines == doc.lines
        assert printed.text_path.read_text(encoding="utf-8") == printed.text
        assert printed.png_path.stat().st_size > 1000
    # the receipt's QR code carries the receipt number, whether drawn by the printer or sent as an image
    assert tickets[0].qr_codes == ["R20261124000123"]
    assert mock.errors == []


def test_the_receipt_png_is_a_strip_of_paper_with_print(mock, printer):
    ticket = templates.receipt(receipt_data())
    printer.print_ticket(ticket, already_printed=False)
    [printed] = mock.wait_for_tickets(1)
    from PIL import Image

    with Image.open(printed.png_path) as img:
        assert img.width == 384 + 32 and img.height > 600
        # mostly paper, some ink
        hist = img.convert("L").histogram()
        assert 0.02 < sum(hist[:128]) / sum(hist) < 0.5


def test_a_second_print_of_the_same_ticket_is_a_marked_copy(mock, printer):
    journal = Journal()
    ticket = templates.receipt(receipt_data())
    first = journal.print(printer, ticket)
    second = journal.print(printer, ticket)
    assert first.outcome is PrintOutcome.ORIGINAL_PRINTED and second.outcome is PrintOutcome.COPY_PRINTED
    assert journal.printed == [ticket.identity]  # marked once, before the original went out
    original, copy = mock.wait_for_tickets(2)
    assert COPY_MARK not in original.lines
    assert copy.lines == [COPY_MARK, *ticket.lines, COPY_MARK]


def test_the_driver_refuses_a_second_original_even_if_the_caller_forgets(mock, printer):
    ticket = templates.receipt(receipt_data())
    assert printer.print_ticket(ticket, already_printed=False).original
    assert not printer.print_ticket(ticket, already_printed=False).original
    assert mock.wait_for_tickets(2)[1].lines[0] == COPY_MARK


def test_a_failing_journal_means_nothing_is_printed(mock, printer):
    def journal_full(identity: str) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        printer.print_ticket(templates.receipt(receipt_data()), already_printed=False, mark_printed=journal_full)
    wait_for(lambda: mock.status_queries >= 4)
    assert mock.bytes_received == mock.status_queries * 3  # only the status questions reached the printer


@pytest.mark.parametrize("fault, error, advice", [
    ("paper_out", PaperOutError, "Load paper, then press retry."),
    ("cover_open", CoverOpenError, "Close the printer cover, then press retry."),
    ("offline", PrinterOfflineError, "Switch the printer off and on, then press retry."),
])
def test_faults_before_the_job_give_clear_errors_and_the_retry_prints_the_original(tmp_path, fault, error, advice):
    journal = Journal()
    ticket = templates.receipt(receipt_data())
    with MockPrinter(tmp_path / "tty", tmp_path / "out", PrinterScenario(**{fault: True})) as mock, \
            ThermalPrinter(mock.path) as driver:
        with pytest.raises(error) as err:
            journal.print(driver, ticket)
        assert err.value.action == advice and not err.value.during_job
        assert str(err.value).endswith(advice)
        assert journal.printed == []  # nothing went out: the retry may print the original
        mock.load_paper()
        mock.set_cover_open(False)
        mock.set_offline(False)
        assert journal.print(driver, ticket).original
        [printed] = mock.wait_for_tickets(1)
        assert printed.lines == ticket.lines


def test_paper_running_out_mid_job_makes_the_retry_a_copy(tmp_path):
    journal = Journal()
    ticket = templates.receipt(receipt_data())
    with MockPrinter(tmp_path / "tty", tmp_path / "out", PrinterScenario(paper_runs_out_after_lines=6)) as mock, \
            ThermalPrinter(mock.path) as driver:
        with pytest.raises(PaperOutError) as err:
            journal.print(driver, ticket)
        assert err.value.during_job
        assert "marked as a copy" in str(err.value)
        assert journal.printed == [ticket.identity]  # the original is (partly) on paper
        [torn] = mock.wait_for_tickets(1)
        assert torn.paper_ran_out and torn.lines == ticket.lines[:6]
        mock.load_paper()
        result = journal.print(driver, ticket)
        assert result.outcome is PrintOutcome.COPY_PRINTED
        assert mock.wait_for_tickets(2)[1].lines == [COPY_MARK, *ticket.lines, COPY_MARK]


def test_a_printer_that_does_not_answer_times_out(tmp_path):
    with MockPrinter(tmp_path / "tty", scenario=PrinterScenario(silent=True)) as mock, \
            ThermalPrinter(mock.path, status_timeout=0.2) as driver:
        with pytest.raises(DeviceTimeoutError) as err:
            driver.print_ticket(templates.receipt(receipt_data()), already_printed=False)
        assert "switched on" in str(err.value)
        assert mock.tickets == []


def test_scenario_file(tmp_path):
    path = tmp_path / "paper.toml"
    path.write_text("paper_out = true\npaper_runs_out_after_lines = 3\n", encoding="utf-8")
    assert load_scenario(path) == PrinterScenario(paper_out=True, paper_runs_out_after_lines=3)
    path.write_text("paper_gone = true\n", encoding="utf-8")
    with pytest.raises(Exception, match="unknown keys"):
        load_scenario(path)


def test_diag_printer_status_and_test_page(mock, capsys):
    assert handheld(["diag", "printer", "--port", mock.path, "status"]) == 0
    assert '"ready": true' in capsys.readouterr().out
    assert handheld(["diag", "printer", "--port", mock.path, "test"]) == 0
    [page] = mock.wait_for_tickets(1)
    assert "打印测试页" in page.lines and page.qr_codes == ["TEST-00000001"]
    mock.set_cover_open(True)
    assert handheld(["diag", "printer", "--port", mock.path, "status"]) == 1
    assert '"cover_open": true' in capsys.readouterr().out
    assert handheld(["diag", "printer", "--port", mock.path, "test"]) == 1
    assert "Close the printer cover" in capsys.readouterr().err


def test_mock_printer_command_line(tmp_path):
    import argparse
    import threading

    from hw_mocks.printer import cli

    link, out = tmp_path / "ttyPrinter", tmp_path / "tickets"
    stop = threading.Event()
    args = argparse.Namespace(link=str(link), out=out, scenario=None)
    runner = threading.Thread(target=cli.run, args=(args, stop))
    runner.start()
    try:
        wait_for(link.exists, what="the mock printer's pty link")
        with ThermalPrinter(str(link)) as driver:
            driver.print_ticket(templates.receipt(receipt_data()), already_printed=False)
        png = wait_for(lambda: sorted(out.glob("ticket-*.png")), what="a saved ticket")
        assert png[0].name == "ticket-0001.png"
        assert "缴费凭证" in (out / "ticket-0001.txt").read_text(encoding="utf-8")
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()


def _targets() -> list:
    real = os.environ.get("HANDHELD_TEST_PRINTER_URL")  # e.g. /dev/ttyUSB0 — a real 58 mm printer
    return ["mock"] + ([real] if real else [])


@pytest.fixture(params=_targets())
def target(request, tmp_path):
    """The same checks against the mock and, when HANDHELD_TEST_PRINTER_URL names one, a real printer."""
    if request.param == "mock":
        with MockPrinter(tmp_path / "tty", tmp_path / "out") as mock_printer:
            yield mock_printer.path
    else:
        yield request.param


def test_a_ready_printer_reports_ready_and_prints_a_test_page(target):
    with ThermalPrinter(target) as driver:
        assert driver.check_ready().ready
        result = driver.print_test_page("00000001")
        assert result.original
        assert driver.status().ready
