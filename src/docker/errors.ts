/** The engine's answer for a container (or image) it does not have: HTTP 404, as docker-modem reports it. */
export function isNotFoundError(error: unknown): boolean {
  return (error as { statusCode?: number } | undefined)?.statusCode === 404;
}

/** A call to the engine cut off by its deadline: says so, where an abort would only say it was aborted. */
export function engineGaveNoAnswer(timeoutMs: number): Error {
  return new Error(`the engine gave no answer within ${timeoutMs} ms`);
}
