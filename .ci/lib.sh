# shellcheck shell=sh
# Helpers shared by the .ci scripts. Source it first thing, before any cd
# (a relative $0 names the script only from where it was started):
#
#   # shellcheck source=SCRIPTDIR/lib.sh
#   . "$(dirname "$0")/lib.sh"
#
# The scripts run from the repository root (.ci/run, the GitLab jobs, the
# job rehearsal's chroots), but the path above works from anywhere.
#
#   say, die    messages on standard error, prefixed with $log_prefix (the
#               script's name without .sh unless the script sets it)
#   show, run   the "+ command" trace on standard error that DRY_RUN=1 leaves
#               and .ci/check_pipeline.sh reads
#   free_port   a free TCP port on 127.0.0.1 (needs python3)
#   apt_install Debian packages, quietly

log_prefix=${0##*/}
log_prefix=${log_prefix%.sh}

# Standard error, so that standard output stays for what a script prints as
# its result (rendered manifests, an image reference, a URL).
say() { echo "$log_prefix: $*" >&2; }

die() {
    say "error: $*"
    exit 1
}

# show ARGS...: prints a command as "+ cmd args", quoting the arguments that
# need it, so that a line of the log can be pasted into a shell. (POSIX sh
# has no local variables: the show_ names keep clear of the callers'.)
show() {
    show_line=+
    for show_arg in "$@"; do
        case $show_arg in
            '' | *[!A-Za-z0-9_./:=@%+,-]*)
                show_arg="'$(printf '%s' "$show_arg" | sed "s/'/'\\\\''/g")'"
                ;;
        esac
        show_line="$show_line $show_arg"
    done
    printf '%s\n' "$show_line" >&2
}

# run ARGS...: shows the command, then runs it unless DRY_RUN=1.
run() {
    show "$@"
    if [ "${DRY_RUN:-0}" != 1 ]; then
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# apt_install PACKAGE...: refreshes the package lists only when the install
# fails (they may be stale, or missing on a fresh machine); shows apt's
# output only on failure.
apt_install() {
    apt_log=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$apt_log" 2>&1; then
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >>"$apt_log" 2>&1; then
            cat "$apt_log" >&2
            rm -f "$apt_log"
            die "apt-get install $*"
        fi
    fi
    rm -f "$apt_log"
}
