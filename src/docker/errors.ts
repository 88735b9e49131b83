/** The engine's answer for a container (or image) it does not have: HTTP 404, as docker-modem reports it. */
export function isNotFoundError(error: unknown): boolean {
  return (error as { statusCode?: number } | undefined)?.statusCode === 404;
}
