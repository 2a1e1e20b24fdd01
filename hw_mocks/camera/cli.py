"""``handheld-mocks camera``: a network camera (mjpg-streamer's HTTP interface) looking at a meter's LCD.

    handheld-mocks camera --port 8080 --display 1234.56 [--scenario ok|no_camera|slow|blank|FILE.toml]
        serves /?action=snapshot and /?action=stream until interrupted
    handheld-mocks camera --png lcd.png --display 1234.56
        writes the picture it would serve and exits
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("camera", help="a network camera (mjpg-streamer HTTP) showing a meter's display")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--display", default="1234.56", help="the register reading the LCD shows")
    p.add_argument("--scenario", default="ok", help="ok, no_camera, slow, blank, or a TOML file")
    p.add_argument("--png", type=Path, help="write the LCD picture to this PNG and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hw_mocks.camera import lcd
    from hw_mocks.camera.scenario import load_scenario
    from hw_mocks.camera.server import MockCamera

    if args.png:
        lcd.draw(args.display).save(args.png)
        print(args.png)
        return 0
    with MockCamera(host=args.host, port=args.port, display=args.display, scenario=load_scenario(args.scenario)) as cam:
        print(f"mock camera: {cam.url} (stream: http://{cam.host}:{cam.port}/?action=stream)", flush=True)
        threading.Event().wait()
    return 0
