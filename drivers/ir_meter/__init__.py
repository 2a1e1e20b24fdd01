"""Infrared meter reading over DL/T 645 (2007 and 1997).

``protocol`` is the sans-IO codec, ``di`` the data-identifier table, ``driver`` the blocking
driver over a pyserial URL.
"""

from drivers.ir_meter.protocol import Dlt645Error, Frame, FrameDecoder, Standard

__all__ = ["Dlt645Error", "Frame", "FrameDecoder", "Standard"]
