/** Command-line options of the bench's scripts: `--name value`, anywhere among the arguments. */

/**
 * Takes `--name value` out of `argv` (the rest stay: labels, commands) and returns the
 * value, or `dflt` when the option, or its value, is not there.
 */
export function takeOption(argv: string[], name: string, dflt: string): string {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1] ?? dflt;
  argv.splice(i, 2);
  return v;
}
