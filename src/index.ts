export * from './errors.js';
export * from './events.js';
export * from './lifecycle.js';
export type * from './ssh/channels.js';
