/**
 * `burrow demo` and the embedded SSH server tests use in place of sshd.
 */
export { startDemoSshServer, type DemoSshServer, type DemoSshServerOptions } from './ssh-server.js';
export type { KeyboardInteractiveOptions, KeyboardInteractivePrompt } from './auth.js';
export type { DemoServerStats } from './context.js';
export { startDemoHttpService, GREETING, type DemoHttpService } from './http-service.js';
export { runDemo, type DemoResult, type DemoTunnel, type OpenTunnelArgs, type RunDemoOptions } from './run.js';
export { isLoopbackHost } from './loopback.js';
