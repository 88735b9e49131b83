/**
 * `KEY=VALUE` lines, `#` comments and blank lines ignored, optional quotes
 * around the value: the format of systemd's EnvironmentFile and of Docker's
 * --env-file, so one file can serve all of them.
 */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new Error(`${file}:${index + 1} is not KEY=VALUE`);
    settings[match[1]!] = match[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return settings;
}
