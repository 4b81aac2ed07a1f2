// chDB runs each query on a libuv worker thread. Node's default pool of 4 would let four long
// analyst queries starve every insert (and fs/zlib work), so the pool is sized before anything
// uses it — which is why the rest of the service is imported only after this line.
process.env['UV_THREADPOOL_SIZE'] ??= '64';
await import('./serve.ts');
