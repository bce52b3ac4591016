/**
 * Hand-written components for tests, assembled from WAT at test time (instant, no toolchain). Each
 * exports `wasi:http/incoming-handler` so it can sit behind the HTTP server like a real component.
 */
import { parse } from '@bytecodealliance/jco-transpile/wasm-tools';

const HTTP_TYPES = `
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))
  ))
  (alias export $types "incoming-request" (type $req))
  (alias export $types "response-outparam" (type $out))`;

function httpComponent(coreModule: string, extraImports = ''): string {
  return `(component
  ${HTTP_TYPES}
  ${extraImports}
  (core module $m ${coreModule})
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $req)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $ih (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $ih))
)`;
}

/** Loops forever in `handle`. */
export const BUSY_LOOP_WAT = httpComponent(`(func (export "handle") (param i32 i32) (loop $l (br $l)))`);

/** Executes `unreachable` in `handle`. */
export const TRAP_WAT = httpComponent(`(func (export "handle") (param i32 i32) unreachable)`);

/** Grows its memory one page at a time until `memory.grow` fails, then traps. */
/**
 * Grows its memory by one page until `memory.grow` fails, then traps: with `unreachable` when it holds
 * the 4096 pages of the 256 MiB default cap, with a division by zero when growth stopped short of it.
 */
export const PAGE_GROWER_WAT = httpComponent(`
  (memory 1)
  (func (export "handle") (param i32 i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (if (i32.ne (memory.size) (i32.const 4096))
      (then (drop (i32.div_u (i32.const 1) (i32.const 0)))))
    unreachable)`);

export const MEMORY_GROWER_WAT = httpComponent(`
  (memory 1)
  (func (export "handle") (param i32 i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable)`);

/** Declares more initial memory (1 GiB) than a host with a small cap allows. */
export const HUGE_MEMORY_WAT = httpComponent(`
  (memory 16384)
  (func (export "handle") (param i32 i32))`);

/** Imports (and calls) an interface no host provides. */
export const UNKNOWN_IMPORT_WAT = `(component
  ${HTTP_TYPES}
  (import "acme:unknown/thing@1.0.0" (instance $thing (export "poke" (func))))
  (alias export $thing "poke" (func $poke))
  (core func $poke_lowered (canon lower (func $poke)))
  (core module $m
    (import "acme" "poke" (func $poke))
    (func (export "handle") (param i32 i32) call $poke))
  (core instance $acme (export "poke" (func $poke_lowered)))
  (core instance $i (instantiate $m (with "acme" (instance $acme))))
  (func $handle (param "request" (own $req)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $ih (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $ih))
)`;

/** Imports a bare function at the top level of its world: no interface a link could serve. */
export const TOP_LEVEL_IMPORT_WAT = `(component
  ${HTTP_TYPES}
  (import "poke" (func $poke))
  (core func $poke_lowered (canon lower (func $poke)))
  (core module $m
    (import "acme" "poke" (func $poke))
    (func (export "handle") (param i32 i32) call $poke))
  (core instance $acme (export "poke" (func $poke_lowered)))
  (core instance $i (instantiate $m (with "acme" (instance $acme))))
  (func $handle (param "request" (own $req)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $ih (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $ih))
)`;

/** A core module, which is not a component. */
export const CORE_MODULE_WAT = `(module (func (export "run")))`;

export function assemble(wat: string): Promise<Uint8Array> {
  return parse(wat);
}
