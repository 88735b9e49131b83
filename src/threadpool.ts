/**
 * Imported first by main.ts, before anything touches the file system: libuv
 * reads the pool size once, when the pool first starts. Each start-value
 * write holds a pool thread through its fsyncs, so the default 4 threads
 * would make 50 concurrent DPI requests queue behind 4 disk flushes.
 */
process.env['UV_THREADPOOL_SIZE'] ??= '16';
