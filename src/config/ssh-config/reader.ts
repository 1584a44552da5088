/**
 * Reads ssh_config files into `RawOptions` for one pass: `Host` and `Match`
 * blocks switch lines on and off, `Include` reads other files in place (inside a
 * block too), unknown keywords are errors unless `IgnoreUnknown` covers them.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { globFiles } from './glob.js';
import { IMPLEMENTED, keywordKind } from './keywords.js';
import { splitArgs, splitLine } from './lexer.js';
import { evaluateMatch } from './match.js';
import { applyLine, type RawOptions } from './options.js';
import { hostLineMatches, matchPatternList } from './patterns.js';
import { expandTilde, expandTokens, type HomeLookup } from './tokens.js';
import { COMMAND_LINE, configError, type Origin } from './values.js';

const MAX_INCLUDE_DEPTH = 16;

export interface PassContext {
  options: RawOptions;
  /** What `Host` patterns match: the destination, or the final host name in the final pass. */
  host: string;
  /** The destination as given (`Match originalhost`, `%h` in HostName during the first pass). */
  originalHost: string;
  localUser: string;
  homeDir: string;
  lookupHome: HomeLookup;
  finalPass: boolean;
  /** Set when a `Match final` line was seen. */
  wantsFinal: boolean;
  /** Every file read, in order. */
  files: string[];
}

interface FileFlags {
  userConf: boolean;
  neverMatch: boolean;
  depth: number;
}

function addUnsupported(o: RawOptions, key: string): void {
  if (!o.unsupported.includes(key)) o.unsupported.push(key);
}

/** `Match host` sees HostName as set so far. */
function matchHost(ctx: PassContext): string {
  const hn = ctx.options.hostname;
  if (hn === undefined) return ctx.host;
  return ctx.finalPass ? hn : expandTokens(hn, { h: ctx.host }, 'HostName');
}

async function include(args: string[], origin: Origin, state: { active: boolean }, ctx: PassContext, flags: FileFlags): Promise<void> {
  if (args.length === 0) throw configError(origin, 'Include needs a file name');
  for (const arg of args) {
    if (arg === '') throw configError(origin, 'Include has an empty argument');
    if (arg.startsWith('~') && !flags.userConf) {
      throw configError(origin, `bad Include path ${arg}: a system config cannot include from a home directory`);
    }
    let path = arg;
    if (!isAbsolute(arg) && !arg.startsWith('~')) path = `${flags.userConf ? '~/.ssh' : '/etc/ssh'}/${arg}`;
    path = expandTilde(path, ctx.homeDir, ctx.lookupHome);
    const outer = state.active;
    for (const file of await globFiles(path)) {
      const sub = { ...flags, neverMatch: flags.neverMatch || !outer, depth: flags.depth + 1 };
      if (sub.depth > MAX_INCLUDE_DEPTH) throw configError(origin, `Include nested deeper than ${MAX_INCLUDE_DEPTH} levels (a loop?)`);
      await readFileLines(file, state, ctx, sub);
      // A Host or Match in the included file does not leak into the including one.
      state.active = outer;
    }
  }
}

async function processLine(
  text: string,
  origin: Origin,
  state: { active: boolean },
  ctx: PassContext,
  flags: FileFlags,
): Promise<void> {
  const line = splitLine(text);
  if (!line) return;
  const { keyword, rest } = line;
  const cmdline = origin.file === COMMAND_LINE;
  if (rest === '') throw configError(origin, `no argument after keyword '${keyword}'`);
  const kind = keywordKind(keyword);
  if (kind === 'unknown') {
    const ignore = ctx.options.ignoreUnknown;
    if (ignore !== undefined && matchPatternList(keyword, ignore, true) === 1) return;
    throw configError(origin, `unknown keyword '${keyword}'; check the spelling (see man ssh_config) or list it in IgnoreUnknown`);
  }
  const args = splitArgs(rest);
  if (args === undefined) throw configError(origin, 'unbalanced quotes; close the quote or escape it with \\');
  if (kind === 'ignored') return;
  const canonical = IMPLEMENTED[keyword];
  if (cmdline && (canonical === 'host' || canonical === 'match' || canonical === 'include')) {
    throw configError(origin, `${keyword} cannot be given with -o; put it in a config file`);
  }
  if (kind === 'unsupported') {
    if (state.active) addUnsupported(ctx.options, keyword);
    if (keyword !== 'canonicalizehostname') return;
  }
  const input = { keyword: canonical ?? keyword, args, rest, origin, active: state.active, userConf: flags.userConf };
  switch (input.keyword) {
    case 'host':
      if (args.some((a) => a === '')) throw configError(origin, 'Host has an empty pattern');
      state.active = !flags.neverMatch && hostLineMatches(ctx.host, args);
      return;
    case 'match': {
      const r = evaluateMatch(
        args,
        {
          host: matchHost(ctx),
          originalHost: ctx.originalHost,
          user: ctx.options.user ?? ctx.localUser,
          localUser: ctx.localUser,
          finalPass: ctx.finalPass,
        },
        origin,
      );
      if (r.wantsFinal) ctx.wantsFinal = true;
      state.active = !flags.neverMatch && r.matched;
      if (!flags.neverMatch) for (const u of r.unsupported) addUnsupported(ctx.options, u);
      return;
    }
    case 'include':
      return include(args, origin, state, ctx, flags);
    default:
      applyLine(ctx.options, input);
  }
}

async function readFileLines(file: string, state: { active: boolean }, ctx: PassContext, flags: FileFlags): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw configError({ file, line: 0 }, `cannot read: ${(e as Error).message}`, e);
  }
  ctx.files.push(file);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    await processLine(lines[i] as string, { file, line: i + 1 }, state, ctx, flags);
  }
  return true;
}

/** Reads one top-level config file; false when it does not exist. */
export function readConfigFile(file: string, ctx: PassContext, userConf: boolean): Promise<boolean> {
  return readFileLines(file, { active: true }, ctx, { userConf, neverMatch: false, depth: 0 });
}

/** Applies one `-o` option (`Key=Value` or `Key Value`). */
export function applyCommandLineOption(text: string, ctx: PassContext): Promise<void> {
  return processLine(text, { file: COMMAND_LINE, line: 0 }, { active: true }, ctx, {
    userConf: true,
    neverMatch: false,
    depth: 0,
  });
}
