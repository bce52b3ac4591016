import { fileURLToPath } from 'node:url';

/** The demo component, built by the test command before the tests run (`cirrus build examples/hello`). */
export const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
