#!/usr/bin/env bash
# The README's promise to a newcomer: its install block and quick start work
# as pasted. In a fresh crate outside the workspace, run every `cargo add`
# line of the block after `<!-- install` (this crate's own line rewritten to
# its path: it is not on crates.io yet), write the first ```rust block after
# `<!-- quickstart` as src/main.rs, build it with warnings denied, and run it
# (it calls 127.0.0.1:3000 and ends either way: a status, or the connect
# error after its retries; a listener on that port that never answers
# would hit the 120 s timeout). Any failure fails CI.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
readme="$repo/README.md"

# A target dir of its own under the repository's target/, so repeated runs
# reuse it and CI's disk stays bounded; no incremental caches.
export CARGO_TARGET_DIR="$repo/target/readme-quickstart"
export CARGO_INCREMENTAL=0
export CARGO_TERM_COLOR=never

# The first fenced block of the given language after the marker comment,
# without its fences.
extract() {
    local marker="$1" lang="$2"
    awk -v marker="$marker" -v lang="$lang" '
        !seen && index($0, marker) == 1 { seen = 1; next }
        seen && !inside && index($0, "```" lang) == 1 { inside = 1; next }
        inside && index($0, "```") == 1 { exit }
        inside { print }
    ' "$readme"
}

install="$(extract '<!-- install' 'sh')"
quickstart="$(extract '<!-- quickstart' 'rust')"
if [ -z "$install" ]; then
    echo "readme_quickstart: no \`\`\`sh block after <!-- install in README.md" >&2
    exit 1
fi
if [ -z "$quickstart" ]; then
    echo "readme_quickstart: no \`\`\`rust block after <!-- quickstart in README.md" >&2
    exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
cargo new --quiet --bin --vcs none quickstart
cd quickstart

added=0
while IFS= read -r line; do
    [ -z "$line" ] && continue
    read -r -a words <<<"$line"
    if [ "${words[0]}" != cargo ] || [ "${words[1]:-}" != add ]; then
        echo "readme_quickstart: the install block holds a line that is not \`cargo add\`: $line" >&2
        exit 1
    fi
    if [ "${words[2]:-}" = tower-conn-retry ]; then
        # `cargo add tower-conn-retry [args]` -> `cargo add --path <repo> [args]`
        words=(cargo add --path "$repo" "${words[@]:3}")
    fi
    echo "+ ${words[*]}"
    "${words[@]}" --quiet
    added=$((added + 1))
done <<<"$install"

printf '%s\n' "$quickstart" >src/main.rs
echo "== the quick start ($(wc -l <src/main.rs) lines), with $added \`cargo add\` lines:"
cat Cargo.toml

RUSTFLAGS="-D warnings" cargo build --quiet
echo "== cargo run (127.0.0.1:3000)"
RUSTFLAGS="-D warnings" timeout 120 cargo run --quiet
