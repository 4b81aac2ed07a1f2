// chDB runs each query on a libuv worker thread, and the pool is sized the first time anything
// uses it, so the size is set before any other module loads (benchmarks that fork pass it on).
process.env['UV_THREADPOOL_SIZE'] ??= '64';

const { readdir } = await import('node:fs/promises');
const { join } = await import('node:path');
const { pathToFileURL } = await import('node:url');

/**
 * `npm run bench`: every benchmark in scripts/bench, one after the other, in this process. A
 * benchmark is a `*.ts` file here exporting `main(): Promise<void>` (prints its own report) or
 * `run(): Promise<Record<string, number>>` (prints its report; the record is printed as one JSON
 * line). `BENCH_ONLY=store,store-concurrency` runs only the named ones.
 */
const only = (process.env['BENCH_ONLY'] ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const dir = import.meta.dirname;
const files = (await readdir(dir))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .filter((f) => only.length === 0 || only.includes(f.slice(0, -3)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no benchmark in ${dir} matches BENCH_ONLY=${process.env['BENCH_ONLY'] ?? ''}\n`);
  process.exit(2);
}
for (const file of files) {
  const name = file.slice(0, -3);
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as {
    main?: () => Promise<void>;
    run?: () => Promise<Record<string, number>>;
  };
  if (typeof mod.main === 'function') {
    process.stdout.write(`\n== ${name} ==\n`);
    await mod.main();
  } else if (typeof mod.run === 'function') {
    process.stdout.write(`\n== ${name} ==\n`);
    const numbers = await mod.run();
    process.stdout.write(
      `${JSON.stringify({ bench: name, date: new Date().toISOString(), results: numbers })}\n`,
    );
  }
}
