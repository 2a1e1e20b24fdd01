"""Tariff files (TOML, shipped as package data) and their loader.

Samples: ``sichuan-residential`` (阶梯电价 by 丰水期/枯水期, source cited in the file),
``flat-agricultural``, ``flat-commercial`` (with surcharge lines), ``zhejiang-residential-yearly``
(yearly tiers) and ``tou-sample`` (峰/平/谷).  See loader.py for the file format.
"""

from terminal_app.tariffs.loader import (
    TariffFileError,
    load_tariff,
    load_tariff_file,
    packaged_names,
    parse_tariff,
    parse_tariff_text,
)

__all__ = ["TariffFileError", "load_tariff", "load_tariff_file", "packaged_names", "parse_tariff",
           "parse_tariff_text"]
