export const HELP = `burrow — SSH port forwarding to HPC clusters, painless and durable

usage:
  burrow [-46NqTtv] [-L spec] [-R spec] [-D [bind:]port] [-J jump] [-p port] [-l user]
         [-i identity] [-F configfile] [-o Key=Value] [-c cipher] [--json] destination [command]
  burrow demo [--once] [--port N]     try a real tunnel through an embedded SSH server
  burrow --version [-v]

forwards (OpenSSH syntax):
  -L [bind:]port:host:hostport   local port → host:hostport as seen from the server
  -L [bind:]port:/remote.sock    local port → a unix socket on the server
  -L /local.sock:host:hostport   local unix socket → host:hostport
  -R [bind:]port:host:hostport   server port → host:hostport as seen from here (0 = server picks)
  -D [bind:]port                 SOCKS5/SOCKS4a proxy through the server
  A port of 0 or 'auto' picks a free one. Without a bind address, local forwards listen
  on loopback only (127.0.0.1 and ::1). Local ports should be in 1024-49151.

options:
  -N             forward only, run no command
  -J jump        ProxyJump: connect through jump host(s), e.g. -J lander
  -F file        ssh config file (default ~/.ssh/config); Host aliases, ProxyCommand,
                 ProxyJump, LocalForward, ExitOnForwardFailure... are honoured
  -o Key=Value   any ssh_config option, e.g. -o ExitOnForwardFailure=yes
  -v             more detail (-vv, -vvv)      -q  quiet
  --json         one JSON event per line on stdout

One connection per host is shared by every forward to it: one password and one-time
code, whatever the number of tunnels. Ctrl-C closes gracefully; a second Ctrl-C cuts.

exit status: 0 ok, 2 usage error, 255 connection/auth/forward failure, else the remote command's.
`;
