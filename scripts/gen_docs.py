#!/usr/bin/env python3
"""Generate (--write) or check (--check) the environment-variable tables of README.md and of every
addon's readme/CONFIGURE.md from the registry odoo_cloud/config/variables.py."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from odoo_cloud.config import variables

if __name__ == "__main__":
    sys.exit(variables.main())
