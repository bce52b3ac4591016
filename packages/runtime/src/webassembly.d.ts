/**
 * The slice of the WebAssembly JS API the runtime uses. TypeScript ships these declarations only with
 * the DOM library, which a Node package should not pull in.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class RuntimeError extends Error {}
  function compile(bytes: Uint8Array): Promise<Module>;
}
