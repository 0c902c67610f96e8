#!/bin/sh
# Runs every cmocka unit-test binary given on the command line, each under a
# timeout, with its stderr (where cmocka prints its summary) kept visible.
# Ends with "N passed, N failed" counting test binaries; exits 1 on any failure.
passed=0
failed=0
failed_names=""
for t in "$@"; do
	echo "== $t"
	timeout 120 "$t" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names="$failed_names $(basename "$t")(rc=$rc)"
	fi
done
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "unit: $passed passed, $failed failed"
[ $failed -eq 0 ]
