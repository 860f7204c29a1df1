#!/bin/sh
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 and that the test
# database exists: starts the local cluster if it is down, installs and
# configures one with apt if there is none. Prints the test server URL as its
# last line.
set -eu
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

host=127.0.0.1
port=5432
database=${CONDUIT_TEST_DATABASE:-conduit_test}

cluster_version() {
    found=
    for dir in /etc/postgresql/*/; do
        [ -d "$dir" ] && found=$(basename "$dir")
    done
    echo "$found"
}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(cluster_version)" ]; then
    say "no PostgreSQL cluster found: installing with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    version=$(cluster_version)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    # A throwaway CI server: trust local TCP connections, as the test URL
    # carries no password.
    sed -i "1i host all all $host/32 trust" "$hba"
fi

if ! pg_isready -q -h "$host" -p "$port"; then
    version=$(cluster_version)
    say "starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
    i=0
    until pg_isready -q -h "$host" -p "$port"; do
        i=$((i + 1))
        [ "$i" -lt 30 ] || die "PostgreSQL did not come up"
        sleep 1
    done
fi

exists=$(psql -h "$host" -p "$port" -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_database WHERE datname = '$database'")
if [ "$exists" != 1 ]; then
    say "creating database $database"
    psql -h "$host" -p "$port" -U postgres -d postgres -qc "CREATE DATABASE $database" >&2
fi
echo "postgres://postgres@$host:$port/$database"
