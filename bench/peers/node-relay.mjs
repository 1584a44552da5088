// The floor for any Node.js forwarder: a plain TCP relay (no SSH, no crypto), Node's
// own `pipe` in both directions. Takes ssh's arguments and serves only the -L ones.
// Its CPU per GiB, next to OpenSSH's, shows what Node's socket I/O alone costs here.
import net from 'node:net';

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '-L') continue;
  const [addr, lport, host, port] = args[++i].split(':');
  net
    .createServer({ noDelay: true, allowHalfOpen: true }, (c) => {
      const t = net.connect({ host, port: Number(port), noDelay: true, allowHalfOpen: true });
      c.pipe(t);
      t.pipe(c);
      c.on('error', () => t.destroy());
      t.on('error', () => c.destroy());
    })
    .listen(Number(lport), addr);
}
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
