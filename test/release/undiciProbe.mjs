// Preloaded (--import) into a process under test: says at its exit whether
// Node's fetch implementation (undici) was ever loaded into it.
process.on('exit', () => {
  const loaded = process.moduleLoadList.some((name) => name.includes('internal/deps/undici'));
  process.stderr.write(`undici loaded: ${loaded}\n`);
});
