// Compiles the Mandate devnet's own Solidity sources with the pinned solc npm
// package (solc-js, no native compiler needed) and writes one JSON artifact
// {contractName, abi, bytecode, compiler} per contract defined in them.
//
// usage: node compile.js NODE_MODULES_DIR SOURCE_DIR OUT_DIR
//
// Imports ("@openzeppelin/contracts/...") resolve inside NODE_MODULES_DIR only.
// Run by EnsureArtifacts (artifacts.go); the Go side decides when to recompile.
'use strict';
const fs = require('fs');
const path = require('path');

const [nodeModules, srcDir, outDir] = process.argv.slice(2);
if (!nodeModules || !srcDir || !outDir) {
  console.error('usage: node compile.js NODE_MODULES_DIR SOURCE_DIR OUT_DIR');
  process.exit(2);
}
const solc = require(path.join(path.resolve(nodeModules), 'solc'));

const sources = {};
for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
}
if (Object.keys(sources).length === 0) {
  console.error('compile.js: no .sol files in ' + srcDir);
  process.exit(1);
}

const root = path.resolve(nodeModules);
function findImports(p) {
  const full = path.resolve(root, p);
  if (!full.startsWith(root + path.sep)) return { error: 'import outside node_modules: ' + p };
  try {
    return { contents: fs.readFileSync(full, 'utf8') };
  } catch (e) {
    return { error: 'not found: ' + p };
  }
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
let failed = false;
for (const e of output.errors || []) {
  if (e.severity === 'error') failed = true;
  console.error(e.formattedMessage || e.message);
}
if (failed) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const file of Object.keys(sources)) {
  for (const [name, c] of Object.entries(output.contracts[file] || {})) {
    const art = {
      contractName: name,
      sourceName: file,
      compiler: solc.version(),
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
    };
    fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(art, null, 2) + '\n');
  }
}
