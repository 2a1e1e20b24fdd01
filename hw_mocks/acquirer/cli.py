"""``handheld-mocks acquirer``: the mock WeChat Pay / Alipay acquirer over HTTP (docs/acquirer.md).

    handheld-mocks acquirer --make-keys /tmp/acq            write a merchant's key set (mode 600) and exit
    handheld-mocks acquirer --port 7700 --keys /tmp/acq     serve, scenarios from the built-in file
    handheld-mocks acquirer --port 0 --keys /tmp/acq --scenarios my.toml --ready-file /tmp/acq.port
    handheld-mocks acquirer --customer-code wechat:user_paying_then_success --png code.png
                                                            a customer's code for a scenario (and its QR)
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import threading
from pathlib import Path

from terminal_app.errors import ConfigurationError

#: the key set's files: the acquirer reads the first three, the station the last three (+ the ids)
KEY_FILES = ("wechat_api.key", "alipay_app_public.pem", "alipay_platform_private.pem",
             "alipay_app_private.pem", "alipay_platform_public.pem", "merchant.toml")
#: merchant ids: the public documents' own examples
DEFAULT_IDS = {"wx_appid": "wx8888888888888888", "wx_mch_id": "1900000109", "ali_app_id": "2014072300007148"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("acquirer", help="a mock WeChat Pay / Alipay acquirer (付款码) over HTTP",
                       description="A mock acquirer speaking WeChat Pay v2 付款码支付 and Alipay 当面付 over HTTP.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7700, help="TCP port (0 = any free port; default 7700)")
    p.add_argument("--keys", metavar="DIR", help="the merchant's key set (see --make-keys)")
    p.add_argument("--make-keys", metavar="DIR", help="write a new key set into DIR (files mode 600) and exit")
    p.add_argument("--scenarios", metavar="FILE", help="scenario file (TOML; default: the built-in one)")
    p.add_argument("--hang-seconds", type=float, default=30.0,
                   help="how long a call the scenario loses is held open before the connection is closed")
    p.add_argument("--customer-code", metavar="CHANNEL:SCENARIO",
                   help="print a customer's payment code (wechat|alipay) that picks SCENARIO, and exit")
    p.add_argument("--png", metavar="FILE", help="with --customer-code: also write the code's QR picture here")
    p.add_argument("--ready-file", metavar="FILE", help="write the bound port here once listening")
    p.add_argument("-v", "--verbose", action="store_true", help="log every call (auth codes redacted)")
    p.set_defaults(func=run)


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def make_keys(directory: Path) -> None:
    from hw_mocks.acquirer import wire

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    app, platform = wire.new_rsa_key(), wire.new_rsa_key()
    _write_secret(directory / "wechat_api.key", secrets.token_hex(16).encode())  # 32 characters, as WeChat's
    _write_secret(directory / "alipay_app_private.pem", wire.private_pem(app))
    _write_secret(directory / "alipay_app_public.pem", wire.public_pem(app.public_key()))
    _write_secret(directory / "alipay_platform_private.pem", wire.private_pem(platform))
    _write_secret(directory / "alipay_platform_public.pem", wire.public_pem(platform.public_key()))
    _write_secret(directory / "merchant.toml", "".join(f'{k} = "{v}"\n' for k, v in DEFAULT_IDS.items()).encode())


def read_secret(path: Path) -> bytes:
    """A key file's bytes, refused if others than its owner may read it (rule: keys only in 0600 files)."""
    try:
        st = path.stat()
        if st.st_mode & 0o077:
            raise ConfigurationError("Key file {path} may be read by others (mode {mode:o}).",
                                     "chmod 600 the file.", path=str(path), mode=st.st_mode & 0o777)
        return path.read_bytes()
    except OSError as e:
        raise ConfigurationError("Key file {path} cannot be read.", "Check --keys.", path=str(path), error=e) from e


def merchant_ids(directory: Path) -> dict[str, str]:
    import tomllib

    raw = tomllib.loads(read_secret(directory / "merchant.toml").decode("utf-8"))
    return {k: str(raw.get(k, v)) for k, v in DEFAULT_IDS.items()}


def load_keys(directory: Path):  # -> MerchantKeys
    from hw_mocks.acquirer import wire
    from hw_mocks.acquirer.server import MerchantKeys

    ids = merchant_ids(directory)
    try:
        return MerchantKeys(wx_appid=ids["wx_appid"], wx_mch_id=ids["wx_mch_id"],
                            wx_key=read_secret(directory / "wechat_api.key").decode("ascii").strip(),
                            ali_app_id=ids["ali_app_id"],
                            ali_app_public=wire.load_public_key(read_secret(directory / "alipay_app_public.pem")),
                            ali_platform_private=wire.load_private_key(
                                read_secret(directory / "alipay_platform_private.pem")))
    except (ValueError, UnicodeError) as e:
        raise ConfigurationError("The key set in {path} cannot be used.", "Make a new one with --make-keys.",
                                 path=str(directory), error=e) from e


def run(args: argparse.Namespace) -> int:
    from hw_mocks.acquirer import scenarios
    from hw_mocks.acquirer.books import Books
    from hw_mocks.acquirer.server import AcquirerServer

    if args.make_keys:
        make_keys(Path(args.make_keys))
        print(f"acquirer: key set written to {args.make_keys}")
        return 0
    if args.customer_code:
        from hw_mocks.acquirer.codes import code_png, customer_code
        from terminal_app.domain.paycode import PayChannel

        channel, _, name = args.customer_code.partition(":")
        try:
            ch = PayChannel(channel)
        except ValueError as e:
            raise ConfigurationError("Channel {value!r} is not wechat or alipay.", "Fix --customer-code.",
                                     value=channel) from e
        code = customer_code(ch, name or "success", scenarios.load(Path(args.scenarios) if args.scenarios else None))
        if args.png:
            Path(args.png).write_bytes(code_png(code))
        print(code)  # a test code for the mock: it moves no real money
        return 0
    if not args.keys:
        raise ConfigurationError("No key set given.", "Pass --keys DIR (make one with --make-keys DIR).")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    keys = load_keys(Path(args.keys))
    book = scenarios.load(Path(args.scenarios) if args.scenarios else None)
    server = AcquirerServer((args.host, args.port), Books(book), keys, hang_seconds=args.hang_seconds)
    port = server.server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="acquirer", daemon=True)
    thread.start()
    print(f"acquirer: listening on {args.host}:{port}", flush=True)
    if args.ready_file:
        tmp = Path(args.ready_file + ".tmp")
        tmp.write_text(str(port))
        tmp.replace(args.ready_file)
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join(5)
    return 0
