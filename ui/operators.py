"""The operators file and its command line: the rules live in :mod:`terminal_app.operators`
(PIN hashes, the lock after 5 wrong PINs, the supervisor's unlock); this module keeps the
``python -m ui.operators set …`` command and the names the UI imports."""

from __future__ import annotations

import sys

from terminal_app.operators import (  # noqa: F401 — re-exported for the UI and the packaging
    MAX_FAILURES,
    SUPERVISOR,
    LoginRefusedError,
    Operator,
    OperatorStore,
    hash_pin,
    main,
)

if __name__ == "__main__":
    sys.exit(main())
