#!/usr/bin/env bash
# Builds registration/static/vendor/hpke.js and zxcvbn.js (and their LICENSE) from the
# pinned @hpke/core and zxcvbn in js/package-lock.json, so the pages load them from our
# own origin only: hpke.js on every page that seals or opens records, zxcvbn.js only on
# the office's key page (passphrase strength, crypto/passphrase.py).
#
#   bash js/build.sh          rebuild and overwrite the committed files (`make js`)
#   bash js/build.sh --check  rebuild into a temporary folder and fail if the
#                             committed files differ (`make js-check`, run in CI)
#
# The output depends only on the lock file and the esbuild version pinned in it:
# esbuild writes no timestamps or absolute paths, and the license file is put
# together in a fixed order. Needs node/npm and the npm registry (or npm's cache).
set -euo pipefail

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    *) echo "usage: bash js/build.sh [--check]" >&2; exit 2 ;;
esac

js_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$js_dir")"
vendor_dir="$repo_dir/registration/static/vendor"
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

cd "$js_dir"
# Install exactly what the lock file says; esbuild's install script only
# checks its platform binary, which the optional @esbuild/* package provides.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2

bundle() {
    ./node_modules/.bin/esbuild "$1" \
        --bundle \
        --format=esm \
        --platform=browser \
        --target=es2020 \
        --minify \
        --charset=utf8 \
        --legal-comments=external \
        --metafile="$work_dir/$2.meta.json" \
        --outfile="$work_dir/$2" \
        --log-level=warning
}
bundle hpke-entry.js hpke.js
bundle zxcvbn-entry.js zxcvbn.js

# LICENSE: every npm package that ended up in the bundle (found from esbuild's
# metafile, so a new dependency cannot slip in unlisted) with its own license
# text, followed by the license comments esbuild extracted from the sources.
node - "$work_dir" hpke.js zxcvbn.js >"$work_dir/LICENSE" <<'NODE'
const fs = require("fs");
const path = require("path");
const [workDir, ...bundles] = process.argv.slice(2);
const packageDirs = new Set();
for (const bundle of bundles) {
  const meta = JSON.parse(fs.readFileSync(path.join(workDir, `${bundle}.meta.json`), "utf8"));
  for (const input of Object.keys(meta.inputs)) {
    const match = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) packageDirs.add(path.join("node_modules", match[1]));
  }
}
const out = [
  `registration/static/vendor/{${bundles.join(",")}} are minified bundles of the npm packages`,
  "below, built by js/build.sh from js/package-lock.json. Their licenses follow.",
  "",
];
for (const dir of [...packageDirs].sort()) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const licenseFile = fs.readdirSync(dir).filter((f) => /^(LICEN[CS]E|COPYING)/i.test(f)).sort()[0];
  if (!licenseFile) {
    console.error(`js/build.sh: ${pkg.name} ships no license file; refusing to bundle it.`);
    process.exit(1);
  }
  out.push("=".repeat(78), `${pkg.name} ${pkg.version} (${pkg.license})`, "=".repeat(78), "");
  out.push(fs.readFileSync(path.join(dir, licenseFile), "utf8").trimEnd(), "");
}
for (const bundle of bundles) {
  const legalPath = path.join(workDir, `${bundle}.LEGAL.txt`);
  if (fs.existsSync(legalPath)) {
    out.push("=".repeat(78), `License comments found in the sources of ${bundle}`, "=".repeat(78), "");
    out.push(fs.readFileSync(legalPath, "utf8").trimEnd(), "");
  }
}
process.stdout.write(out.join("\n"));
NODE

if [[ "$mode" == check ]]; then
    status=0
    for name in hpke.js zxcvbn.js LICENSE; do
        if ! cmp -s "$work_dir/$name" "$vendor_dir/$name"; then
            echo "js/build.sh --check: registration/static/vendor/$name does not match a fresh build" \
                "of js/package-lock.json. Run 'make js' and commit the result." >&2
            status=1
        fi
    done
    if [[ "$status" -eq 0 ]]; then
        echo "registration/static/vendor/hpke.js, zxcvbn.js and LICENSE match js/package-lock.json."
    fi
    exit "$status"
fi

mkdir -p "$vendor_dir"
for name in hpke.js zxcvbn.js LICENSE; do
    cp "$work_dir/$name" "$vendor_dir/$name"
done
echo "wrote registration/static/vendor/hpke.js ($(wc -c <"$vendor_dir/hpke.js") bytes)," \
    "zxcvbn.js ($(wc -c <"$vendor_dir/zxcvbn.js") bytes) and LICENSE"
