#!/usr/bin/env bash
# Install everything the test suite needs, then run all checks and the whole suite.
# Used verbatim by the README's quick start and by .ci/run. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive for real: RELION (reference FSC), Chromium (report rendering),
# a single-node SLURM (cluster profile). Installed only where missing and when we may.
need=()
command -v relion_postprocess >/dev/null || need+=(relion)
command -v chromium >/dev/null || need+=(chromium)
command -v slurmctld >/dev/null || need+=(slurmctld slurmd slurm-client munge)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing system packages (${need[*]}); install them (Debian names) and rerun" >&2
    exit 1
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"

ruff check .
ruff format --check .
snakefmt --check Snakefile workflow/
snakemake --lint --workflow-profile none
python3 -m pytest -q -p no:cacheprovider "$@"
