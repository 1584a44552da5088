/**
 * Splits ssh_config lines the way OpenSSH's readconf.c does: a keyword, then
 * whitespace or one `=`, then arguments split like a shell word list (double and
 * single quotes, backslash escapes, `#` at the start of a word ends the line).
 */

export interface ConfigLine {
  /** Lower-cased keyword. */
  keyword: string;
  /** Everything after the keyword and its separator, untouched (ProxyCommand wants it raw). */
  rest: string;
}

const WS = ' \t\r\n';

/**
 * The keyword and the raw rest of a line; undefined for blank and comment lines.
 * `rest` is '' when the keyword has no argument (OpenSSH rejects that).
 */
export function splitLine(line: string): ConfigLine | undefined {
  // OpenSSH strips trailing whitespace and form feeds, then leading whitespace.
  const s = line.replace(/[ \t\r\n\f]+$/, '').replace(/^[ \t\r\n]+/, '');
  const m = /^[^ \t\r\n="]+/.exec(s);
  if (!m || m[0].startsWith('#')) return undefined;
  let i = m[0].length;
  while (i < s.length && WS.includes(s[i] as string)) i++;
  if (s[i] === '=') {
    i++;
    while (i < s.length && WS.includes(s[i] as string)) i++;
  }
  return { keyword: m[0].toLowerCase(), rest: s.slice(i) };
}

/**
 * Splits arguments as OpenSSH's `argv_split(..., terminate_on_comment)`.
 * Returns undefined when a quote is left open.
 */
export function splitArgs(s: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') break;
    let arg = '';
    let quote = '';
    for (; i < s.length; i++) {
      const ch = s[i] as string;
      const next = s[i + 1];
      if (ch === '\\') {
        if (next === "'" || next === '"' || next === '\\' || (quote === '' && next === ' ')) {
          i++;
          arg += next;
        } else {
          arg += ch;
        }
      } else if (quote === '' && (ch === ' ' || ch === '\t')) {
        break;
      } else if (quote === '' && (ch === '"' || ch === "'")) {
        quote = ch;
      } else if (quote !== '' && ch === quote) {
        quote = '';
      } else {
        arg += ch;
      }
    }
    if (quote !== '') return undefined;
    out.push(arg);
  }
  return out;
}
