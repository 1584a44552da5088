export * from './errors.js';
export * from './events.js';
export * from './lifecycle.js';
export type * from './ssh/channels.js';
export type * from './config/types.js';
export type * from './prompt.js';
