#!/usr/bin/env bash
# Rebuilds the chat's lazily loaded libraries under ollama-dash-host/web/vendor/ from pinned npm
# versions (users need no build step: the output is committed). Needs node 20+ and npm.
#   web/vendor/lezer/   @lezer/highlight (highlight.js) and one ES module per grammar
#                       (python.js, rust.js…), shared code in chunk-*.js
#   web/vendor/temml/   Temml (LaTeX → MathML), one ES module (temml.min.js)
# Then run the web tests: cargo test -p ollama-dash-tests --test it web, tests/e2e/test_web.py.
set -euo pipefail
cd "$(dirname "$0")/.."
out=ollama-dash-host/web/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

packages=(
  esbuild@0.28.2 temml@0.13.5
  @lezer/common@1.5.7 @lezer/lr@1.4.13 @lezer/highlight@1.2.5
  @lezer/javascript@1.5.7 @lezer/python@1.1.19 @lezer/rust@1.0.3 @lezer/json@1.0.3
  @lezer/css@1.3.9 @lezer/html@1.3.13 @lezer/cpp@1.1.6 @lezer/go@1.0.1 @lezer/java@1.1.5
  @lezer/yaml@1.0.4
)
echo '{"name":"ollama-dash-vendor","private":true,"version":"0.0.0"}' >"$work/package.json"
(cd "$work" && npm install --no-audit --no-fund --save-exact "${packages[@]}" >/dev/null)

# One small module per language (and one for the highlighter), code shared between them in
# chunks: a reply with Python code loads the highlighter and the Python grammar only.
languages=(javascript python rust json css html cpp go java yaml)
entries=("$work/entries/highlight.js")
mkdir -p "$work/entries"
echo 'export { highlightCode, classHighlighter } from "@lezer/highlight";' >"$work/entries/highlight.js"
for lang in "${languages[@]}"; do
  echo "export { parser } from \"@lezer/$lang\";" >"$work/entries/$lang.js"
  entries+=("$work/entries/$lang.js")
done
rm -rf "$out/lezer" "$out/temml"
mkdir -p "$out/lezer" "$out/temml"
esbuild="$work/node_modules/.bin/esbuild"
"$esbuild" "${entries[@]}" --bundle --splitting --format=esm --minify --legal-comments=none \
  --target=es2020 --outdir="$out/lezer" --chunk-names=chunk-[hash] --log-level=warning
"$esbuild" "$work/node_modules/temml/dist/temml.mjs" --format=esm --minify --legal-comments=none \
  --target=es2020 --outfile="$out/temml/temml.min.js" --log-level=warning

{
  for p in common lr highlight javascript python rust json css html cpp go java yaml; do
    echo "== @lezer/$p $(node -p "require('$work/node_modules/@lezer/$p/package.json').version") =="
    cat "$work/node_modules/@lezer/$p/LICENSE"
    echo
  done
} >"$out/lezer/LICENSE"
cp "$work/node_modules/temml/LICENSE" "$out/temml/LICENSE"
cd "$out" && for f in lezer/*.js temml/*.js; do
  printf '%s\t%s\t%s\n' "$f" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"
done
