#!/bin/sh
# Demo smoke test: pretends to call the forecast API of the environment.
set -eu
echo "Smoke-testing ${1} (${2:-current}): GET /api/v1/forecast/solar ... 200"
echo "Smoke-testing ${1} (${2:-current}): GET /api/v1/forecast/voltage ... 200"
