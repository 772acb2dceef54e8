#!/usr/bin/env bash
# The test command (README): installs what the tests need, starts the real services, runs the whole
# suite, and always stops the services it started (ones a developer already had running stay up).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/test_harness.py -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
began=$SECONDS

bash scripts/install-deps.sh
PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[test]'

ours=()
for service in dockerd registry postgres; do
    bash scripts/services.sh status "$service" >/dev/null || ours+=("$service")
done
# Called at the end and by the EXIT trap, so an interrupted or failed run leaves nothing behind.
stop_ours() {
    local service
    for service in "${ours[@]}"; do
        bash scripts/services.sh stop "$service" || echo "test.sh: stopping $service failed" >&2
    done
}
trap stop_ours EXIT
trap 'exit 130' INT TERM

started=$SECONDS
bash scripts/services.sh start all
services_took=$((SECONDS - started))

set +e
"$PYTHON" -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
stop_ours
ours=()
if [ "$rc" -eq 5 ]; then
    # CI must never pass on an empty run.
    echo "test.sh: pytest collected no tests; treating that as a failure"
    rc=1
fi
echo "test.sh: pytest exit code $rc; services started in ${services_took}s; $((SECONDS - began))s in all"
exit "$rc"
