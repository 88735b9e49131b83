/**
 * Imported first by main.ts, before anything touches the file system: libuv
 * reads the pool size once, when the pool first starts. Every fsync of a
 * start-value file holds a pool thread until the disk answers, so the default
 * 4 threads would make 50 concurrent DPI requests queue behind 4 disk flushes.
 */
process.env['UV_THREADPOOL_SIZE'] ??= '16';
