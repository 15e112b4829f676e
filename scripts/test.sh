#!/usr/bin/env bash
# The whole test suite: unit, integration (needs PostgreSQL and Redis on 127.0.0.1) and
# Blender renders. Extra arguments go to pytest (e.g. -m "not integration").
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
