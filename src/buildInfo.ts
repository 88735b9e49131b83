/** Filled in by scripts/build.mjs; a run from source reports "unknown". */
declare const __GIT_COMMIT__: string | undefined;

export const gitCommit: string = typeof __GIT_COMMIT__ === 'string' ? __GIT_COMMIT__ : 'unknown';
