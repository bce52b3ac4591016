export * from './errors.ts';
export * from './limits.ts';
export * from './subjects.ts';
export * from './wire.ts';
export * from './events.ts';
export * from './logger.ts';
export * from './validate.ts';
export * from './control.ts';
