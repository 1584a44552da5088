/**
 * `Match` criteria (readconf.c `match_cfg_line`). Criteria burrow cannot evaluate
 * (`exec`, and `tagged`/`localnetwork` of newer OpenSSH) make the line not match and
 * are reported as unsupported, so no setting is applied on a guess.
 */
import { matchHostname, matchPatternList } from './patterns.js';
import { configError, type Origin } from './values.js';

export interface MatchContext {
  /** For `host`: HostName as known so far (with `%h` expanded), else the destination. */
  host: string;
  /** For `originalhost`: the destination as given. */
  originalHost: string;
  /** For `user`: the remote user as known so far, else the local user. */
  user: string;
  localUser: string;
  finalPass: boolean;
}

export interface MatchResult {
  matched: boolean;
  /** The line asks for a final pass (`final`). */
  wantsFinal: boolean;
  /** Criteria burrow did not evaluate (`match exec`...). */
  unsupported: string[];
}

const UNEVALUATED = new Set(['exec', 'tagged', 'localnetwork']);

/** Evaluates the arguments of one `Match` line. */
export function evaluateMatch(args: readonly string[], ctx: MatchContext, origin: Origin): MatchResult {
  const res: MatchResult = { matched: true, wantsFinal: false, unsupported: [] };
  let attributes = 0;
  for (let i = 0; i < args.length; i++) {
    const oattrib = args[i] as string;
    const negate = oattrib.startsWith('!');
    const attrib = (negate ? oattrib.slice(1) : oattrib).toLowerCase();
    const apply = (r: boolean): void => {
      if (r === negate) res.matched = false;
    };
    if (attrib === 'all') {
      if (attributes > 1 || i + 1 < args.length) {
        throw configError(origin, `Match '${oattrib}' cannot be combined with other criteria`);
      }
      apply(true);
      return res;
    }
    attributes++;
    if (attrib === 'canonical' || attrib === 'final') {
      if (attrib === 'final') res.wantsFinal = true;
      apply(ctx.finalPass);
      continue;
    }
    const arg = args[++i];
    if (arg === undefined || arg === '') {
      throw configError(origin, `Match ${attrib} needs an argument, e.g. Match ${attrib} pattern`);
    }
    if (attrib === 'host') apply(matchHostname(ctx.host, arg));
    else if (attrib === 'originalhost') apply(matchHostname(ctx.originalHost, arg));
    else if (attrib === 'user') apply(matchPatternList(ctx.user, arg, false) === 1);
    else if (attrib === 'localuser') apply(matchPatternList(ctx.localUser, arg, false) === 1);
    else if (UNEVALUATED.has(attrib)) {
      res.unsupported.push(`match ${attrib}`);
      res.matched = false;
    } else {
      throw configError(
        origin,
        `unknown Match criterion '${attrib}'; use all, canonical, final, host, originalhost, user, localuser or exec`,
      );
    }
  }
  if (attributes === 0) throw configError(origin, 'Match needs at least one criterion');
  return res;
}
