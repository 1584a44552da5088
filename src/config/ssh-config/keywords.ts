/**
 * Which ssh_config keywords exist. burrow implements some; the other real OpenSSH
 * keywords are accepted and reported in `ResolvedHost.unsupported`; anything else is
 * a configuration error, as it is for `ssh`.
 */

/** Keywords burrow acts on (OpenSSH spellings, lower case; aliases map to the main name). */
export const IMPLEMENTED: Readonly<Record<string, string>> = {
  host: 'host',
  match: 'match',
  include: 'include',
  hostname: 'hostname',
  user: 'user',
  port: 'port',
  identityfile: 'identityfile',
  identityfile2: 'identityfile',
  identitiesonly: 'identitiesonly',
  proxycommand: 'proxycommand',
  proxyjump: 'proxyjump',
  localforward: 'localforward',
  remoteforward: 'remoteforward',
  dynamicforward: 'dynamicforward',
  clearallforwardings: 'clearallforwardings',
  exitonforwardfailure: 'exitonforwardfailure',
  serveraliveinterval: 'serveraliveinterval',
  serveralivecountmax: 'serveralivecountmax',
  stricthostkeychecking: 'stricthostkeychecking',
  userknownhostsfile: 'userknownhostsfile',
  globalknownhostsfile: 'globalknownhostsfile',
  hostkeyalias: 'hostkeyalias',
  ciphers: 'ciphers',
  macs: 'macs',
  kexalgorithms: 'kexalgorithms',
  gatewayports: 'gatewayports',
  connecttimeout: 'connecttimeout',
  addressfamily: 'addressfamily',
  batchmode: 'batchmode',
  ignoreunknown: 'ignoreunknown',
};

/** Silently ignored by OpenSSH too. */
export const IGNORED = new Set(['protocol']);

/**
 * Real OpenSSH client keywords (current, deprecated and compiled-out ones) that
 * burrow does not implement. `canonicalizehostname` is also read, to decide on a
 * second pass, but burrow does no DNS canonicalisation.
 */
export const UNSUPPORTED = new Set(
  (
    'addkeystoagent afstokenpassing bindaddress bindinterface canonicaldomains ' +
    'canonicalizefallbacklocal canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames ' +
    'casignaturealgorithms certificatefile challengeresponseauthentication channeltimeout checkhostip ' +
    'cipher compression compressionlevel connectionattempts controlmaster controlpath ' +
    'controlpersist dsaauthentication enableescapecommandline enablesshkeysign escapechar ' +
    'fallbacktorsh fingerprinthash forkafterauthentication forwardagent forwardx11 forwardx11timeout ' +
    'forwardx11trusted globalknownhostsfile2 gssapiauthentication gssapiclientidentity ' +
    'gssapidelegatecredentials gssapikexalgorithms gssapikeyexchange gssapirenewalforcesrekey ' +
    'gssapiserveridentity gssapitrustdns hashknownhosts hostbasedacceptedalgorithms ' +
    'hostbasedauthentication hostbasedkeytypes hostkeyalgorithms identityagent ipqos ' +
    'kbdinteractiveauthentication kbdinteractivedevices keepalive kerberosauthentication ' +
    'kerberostgtpassing knownhostscommand localcommand loglevel logverbose ' +
    'nohostauthenticationforlocalhost numberofpasswordprompts obscurekeystroketiming ' +
    'passwordauthentication permitlocalcommand permitremoteopen pkcs11provider ' +
    'preferredauthentications proxyusefdpass pubkeyacceptedalgorithms pubkeyacceptedkeytypes ' +
    'pubkeyauthentication refuseconnection rekeylimit remotecommand requesttty requiredrsasize ' +
    'revokedhostkeys rhostsauthentication rhostsrsaauthentication rsaauthentication ' +
    'securitykeyprovider sendenv sessiontype setenv skeyauthentication smartcarddevice stdinnull ' +
    'streamlocalbindmask streamlocalbindunlink syslogfacility tag tcpkeepalive tisauthentication ' +
    'tunnel tunneldevice updatehostkeys useprivilegedport useroaming usersh userknownhostsfile2 ' +
    'verifyhostkeydns versionaddendum visualhostkey warnweakcrypto xauthlocation'
  ).split(' '),
);

export type KeywordKind = 'implemented' | 'unsupported' | 'ignored' | 'unknown';

export function keywordKind(keyword: string): KeywordKind {
  if (Object.hasOwn(IMPLEMENTED, keyword)) return 'implemented';
  if (UNSUPPORTED.has(keyword)) return 'unsupported';
  if (IGNORED.has(keyword)) return 'ignored';
  return 'unknown';
}
