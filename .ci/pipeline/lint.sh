#!/bin/sh
# Check "lint" of .ci/check_pipeline.sh: every .ci shell script is POSIX sh
# (the job images may have no bash) and passes shellcheck, following what it
# sources (.ci/lib.sh, .ci/pipeline/common.sh); every .ci Python file passes
# pyflakes.
set -eu
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

# find_ours PATTERN: our files under .ci, one a line (.ci/.tools and
# .ci/.cache hold installed tools).
find_ours() {
    find .ci -path '.ci/.*' -prune -o -type f -name "$1" -print | sort
}

scripts=$(find_ours '*.sh')
for script in $scripts; do
    case $(head -n 1 "$script") in
        '#!/bin/sh' | '# shellcheck shell=sh') ;;
        *) fail "$script: not a POSIX sh script (first line: $(head -n 1 "$script"))" ;;
    esac
done
# shellcheck disable=SC2086 # one word per file; none has a space
shellcheck --shell=sh --severity=style -x $scripts
note "shellcheck: $(echo "$scripts" | wc -l) scripts clean: $(echo "$scripts" | paste -sd ' ' -)"

programs=$(find_ours '*.py')
# shellcheck disable=SC2086
pyflakes $programs
note "pyflakes: $(echo "$programs" | wc -l) programs clean: $(echo "$programs" | paste -sd ' ' -)"
