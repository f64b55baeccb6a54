#!/usr/bin/env bash
# Install the system packages that `make book` / `make test` need and that pip cannot provide.
#
#   install-system-deps.sh book   graphviz only (what `make book` needs)
#   install-system-deps.sh [test] everything below (what `make test` needs)
#
#   graphviz               `dot`, which draws the blueprint (dependency graph) pages as SVG
#   chromium               headless page check of the built book (scripts/check_page.py)
#   dataset-fashion-mnist  Fashion-MNIST IDX files from Debian, read by advproof.data
#                          (gzipped IDX files in /usr/share/datasets/fashion-mnist/)
#
# Idempotent: apt-get runs only when a package is missing. Debian 12 (bookworm); runs as root,
# or through sudo when it is available. Exits non-zero if anything cannot be installed.
set -euo pipefail

case "${1:-test}" in
    book) PACKAGES=(graphviz) ;;
    test) PACKAGES=(graphviz chromium dataset-fashion-mnist) ;;
    *) echo "usage: install-system-deps.sh [book|test]" >&2; exit 2 ;;
esac

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    if is_installed "$pkg"; then
        echo "install-system-deps: $pkg is already installed"
    else
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: nothing to do"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: ERROR: missing ${missing[*]} and apt-get is not available;" >&2
    echo "  install them with your system's package manager (see this script's header)." >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-system-deps: ERROR: missing ${missing[*]}; run as root or install sudo:" >&2
    echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${missing[*]}"
if ! "${SUDO[@]}" apt-get update -qq; then
    echo "install-system-deps: WARNING: apt-get update failed; trying the cached package lists" >&2
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install-system-deps: ERROR: apt-get install ${missing[*]} failed" >&2
    exit 1
fi

for pkg in "${missing[@]}"; do
    if ! is_installed "$pkg"; then
        echo "install-system-deps: ERROR: $pkg is still not installed" >&2
        exit 1
    fi
    echo "install-system-deps: installed $pkg"
done
