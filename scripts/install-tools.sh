#!/usr/bin/env bash
# Installs the embedded database server (FerretDB v1.24.2) and mongosh under .tools/.
# Each step is skipped when the right version is already there, so a second run is instant.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
ferret_version="v1.24.2"
mongosh_version="2.12.0"
mkdir -p "$tools/bin"

if [ "$(cat "$tools/bin/ferretdb.version" 2>/dev/null)" != "$ferret_version" ] || [ ! -x "$tools/bin/ferretdb" ]; then
  echo "installing FerretDB $ferret_version into .tools/bin"
  # A plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@$ferret_version` builds a binary
  # that panics at start: build/version/version.txt is written by upstream's release tooling and
  # is not in the published module. So: download exactly that module version (checksums verified
  # by the Go toolchain), add the version file, and build it like `go install` would.
  dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$ferret_version" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
  cp -r "$dir/." "$work/"
  chmod -R u+w "$work"
  echo "$ferret_version" > "$work/build/version/version.txt"
  (cd "$work" && GOFLAGS=-mod=mod go build -trimpath -o "$tools/bin/ferretdb" ./cmd/ferretdb)
  echo "$ferret_version" > "$tools/bin/ferretdb.version"
fi

if [ "$(cat "$tools/mongosh.version" 2>/dev/null)" != "$mongosh_version" ] || [ ! -x "$tools/mongosh/node_modules/.bin/mongosh" ]; then
  echo "installing mongosh $mongosh_version into .tools/mongosh"
  npm install --silent --no-audit --no-fund --prefix "$tools/mongosh" "mongosh@$mongosh_version"
  echo "$mongosh_version" > "$tools/mongosh.version"
fi
ln -sf "$tools/mongosh/node_modules/.bin/mongosh" "$tools/bin/mongosh"
