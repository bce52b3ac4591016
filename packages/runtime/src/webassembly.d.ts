/**
 * The slice of the WebAssembly JS API the runtime uses. TypeScript ships these declarations only with
 * the DOM library, which a Node package should not pull in.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    readonly exports: Record<string, unknown>;
  }
  class RuntimeError extends Error {}
  function compile(bytes: Uint8Array): Promise<Module>;
  function instantiate(bytes: Uint8Array): Promise<{ module: Module; instance: Instance }>;
}
