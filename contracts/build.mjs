// Compiles the Solidity test contracts with solcjs (the `solc` npm package, pinned in
// package.json) and writes one artifact per contract to contracts/artifacts/<Name>.json.
//
// Design:
// - Standard JSON input, sources fed in sorted order, optimizer on, a fixed evmVersion that
//   anvil's default hardfork supports, and metadata.bytecodeHash "none" so the bytecode does not
//   change when only comments or whitespace do.
// - Each `<Name>.sol` must define a contract `<Name>`; only those are written (helpers such as
//   interfaces or libraries in the same file do not get artifacts).
// - Output is deterministic: keys sorted at every level, 2-space indent, trailing newline. A
//   rebuild with the same solc version gives byte-identical files, so `git diff` shows real
//   changes only. Stale artifacts (no matching source) are removed.
// - Any compiler error fails the build with a non-zero exit code; warnings are printed.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const solc = require('solc')

const HERE = dirname(fileURLToPath(import.meta.url))
const OUT_DIR = join(HERE, 'artifacts')
const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: 'none' },
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] },
  },
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys(value[key])]),
    )
  }
  return value
}

function readSources() {
  const files = readdirSync(HERE)
    .filter((f) => f.endsWith('.sol'))
    .sort()
  return Object.fromEntries(files.map((f) => [f, { content: readFileSync(join(HERE, f), 'utf8') }]))
}

function compile(sources) {
  const input = { language: 'Solidity', sources, settings: SETTINGS }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  const diagnostics = output.errors ?? []
  for (const d of diagnostics) console.error(d.formattedMessage ?? d.message)
  if (diagnostics.some((d) => d.severity === 'error')) {
    throw new Error('solc reported errors; no artifacts written')
  }
  return output.contracts
}

function artifactFor(file, contracts) {
  const name = basename(file, '.sol')
  const contract = contracts[file]?.[name]
  if (!contract) throw new Error(`${file} must define a contract named ${name}`)
  return sortKeys({
    contractName: name,
    abi: contract.abi,
    bytecode: '0x' + contract.evm.bytecode.object,
    deployedBytecode: '0x' + contract.evm.deployedBytecode.object,
    compiler: {
      name: 'solc',
      version: solc.version(),
      evmVersion: SETTINGS.evmVersion,
      optimizer: SETTINGS.optimizer,
      bytecodeHash: SETTINGS.metadata.bytecodeHash,
    },
  })
}

function main() {
  const sources = readSources()
  const contracts = compile(sources)
  mkdirSync(OUT_DIR, { recursive: true })
  const written = new Set()
  for (const file of Object.keys(sources)) {
    const artifact = artifactFor(file, contracts)
    const target = `${artifact.contractName}.json`
    writeFileSync(join(OUT_DIR, target), JSON.stringify(artifact, null, 2) + '\n')
    written.add(target)
    console.log(`wrote contracts/artifacts/${target}`)
  }
  for (const stale of readdirSync(OUT_DIR).filter((f) => f.endsWith('.json') && !written.has(f))) {
    rmSync(join(OUT_DIR, stale))
    console.log(`removed stale contracts/artifacts/${stale}`)
  }
}

main()
