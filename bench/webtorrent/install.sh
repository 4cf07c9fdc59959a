#!/bin/sh
# Install the WebTorrent baseline's own dependencies into bench/webtorrent/node_modules
# (scripts disabled by .npmrc; see /work/shared/WEBTORRENT-NOTES.md and bench/lan/README.md).
set -eu
cd "$(dirname "$0")"
npm install --no-save --no-package-lock "$@"
