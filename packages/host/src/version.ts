import pkg from '../package.json' with { type: 'json' };

/** The host version reported in inventories and events (semver, as wadm requires). */
export const VERSION: string = pkg.version;
