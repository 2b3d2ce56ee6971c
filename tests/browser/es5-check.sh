#!/usr/bin/env bash
# The demo page's script (src/face/demo.js) must run on old WebKit (Chrome 16-31, Safari 6, TV
# browsers): it must parse as ES5 (no let/const, arrow functions, template literals, classes,
# default or rest parameters, destructuring...), and it must not name APIs those browsers lack
# (fetch, Promise, Map/Set, Symbol, Proxy, Object.assign, Function.prototype.bind, which Safari
# 5.1 and old Android WebKit lack, and the ES2015+ string/array methods).
#
# usage: tests/browser/es5-check.sh [FILE...]   (default: src/face/demo.js)
# Needs node and acorn (npx fetches acorn@8 from the npm registry once, then uses its cache).
# Exit 0: clean; 1: a violation (printed with its line); 2: no parser at hand.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(src/face/demo.js)
command -v node >/dev/null && command -v npx >/dev/null || { echo "es5-check: needs node and npx" >&2; exit 2; }
# acorn from tests/browser's lock file (npm ci there), else whatever npx finds.
if [ -x tests/browser/node_modules/.bin/acorn ]; then
  acorn=(tests/browser/node_modules/.bin/acorn)
else
  acorn=(npx --yes acorn@8)
fi
"${acorn[@]}" --help >/dev/null 2>&1 || { echo "es5-check: cannot run acorn (npx acorn@8)" >&2; exit 2; }

rc=0
for file in "${files[@]}"; do
  if ! "${acorn[@]}" --ecma5 --silent "$file"; then
    echo "es5-check: $file does not parse as ES5 (above)"
    rc=1
    continue
  fi
  # Names, not comments or strings: the tokens of the parse.
  if ! "${acorn[@]}" --ecma5 --tokenize --locations --compact "$file" | node -e '
    const forbidden = new Set(["fetch", "Promise", "Symbol", "Map", "Set", "WeakMap", "WeakSet",
      "Proxy", "Reflect", "assign", "bind", "includes", "startsWith", "endsWith", "padStart",
      "padEnd", "repeat", "findIndex", "fill", "requestIdleCallback", "TextDecoder",
      "TextEncoder", "closest"]);
    let input = "";
    process.stdin.on("data", (d) => { input += d; });
    process.stdin.on("end", () => {
      let bad = 0;
      for (const token of JSON.parse(input)) {
        if (token.type.label === "name" && forbidden.has(token.value)) {
          console.log(`es5-check: ${process.argv[1]}:${token.loc.start.line}: ${token.value} is not in old WebKit`);
          bad++;
        }
      }
      process.exit(bad ? 1 : 0);
    });
  ' "$file"; then
    rc=1
  fi
done
[ "$rc" -eq 0 ] && echo "es5-check: ${files[*]}: ES5, no API old WebKit lacks"
exit "$rc"
