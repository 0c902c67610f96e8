#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs each libFuzzer binary for SECONDS over a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name without fuzz_>/), so the tracked seeds stay
# as committed.  Usage: sh tests/run-fuzz.sh SECONDS BIN...
set -u

if [ $# -lt 2 ]; then
	echo "usage: sh tests/run-fuzz.sh SECONDS BIN..." >&2
	exit 2
fi
seconds=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ringside-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
for bin in "$@"; do
	name=$(basename "$bin")
	seeds="$here/fuzz/corpus/${name#fuzz_}"
	corpus="$scratch/$name/corpus"
	artifacts="$scratch/$name/artifacts"
	mkdir -p "$corpus" "$artifacts"
	if [ -d "$seeds" ]; then
		cp -R "$seeds/." "$corpus/"
	else
		echo "$name: no seed corpus at $seeds, starting empty"
	fi

	echo "$name: fuzzing for ${seconds}s"
	# Crash inputs land in the scratch dir; copy one next to the binary so
	# it survives the cleanup and can be replayed with "$bin FILE".
	if "$bin" -max_total_time="$seconds" -print_final_stats=0 \
	    -artifact_prefix="$artifacts/" "$corpus" >"$scratch/$name/log" 2>&1; then
		echo "$name: ok"
		passed=$((passed + 1))
	else
		tail -n 30 "$scratch/$name/log"
		for crash in "$artifacts"/*; do
			[ -e "$crash" ] || continue
			cp "$crash" "$(dirname "$bin")/" &&
			    echo "$name: failing input saved as $(dirname "$bin")/$(basename "$crash")"
		done
		echo "$name: FAILED"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
