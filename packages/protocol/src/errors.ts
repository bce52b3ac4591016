/**
 * Every failure Cirrus reports has a class and a stable `code`. The code is the contract: logs, HTTP
 * bodies, control replies and the CLI print it, and `docs/errors.md` lists every one (a test keeps the
 * two in sync). Messages say what was wrong; `hint` says how to fix it.
 */

export interface ErrorInit {
  hint?: string | undefined;
  cause?: unknown;
  details?: Readonly<Record<string, unknown>> | undefined;
}

/** The serialisable form of an error, used across worker threads and the network. */
export interface ErrorJSON {
  code: string;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

export abstract class CirrusError extends Error {
  abstract readonly code: string;
  readonly hint: string | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(message: string, init: ErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.hint = init.hint;
    this.details = init.details;
  }

  override get name(): string {
    return this.constructor.name;
  }

  toJSON(): ErrorJSON {
    const json: ErrorJSON = { code: this.code, message: this.message };
    if (this.hint !== undefined) json.hint = this.hint;
    if (this.details !== undefined) json.details = { ...this.details };
    return json;
  }

  /** One line for logs and terminals: `CODE: message (hint)`. */
  describe(): string {
    return `${this.code}: ${this.message}${this.hint === undefined ? '' : ` (${this.hint})`}`;
  }
}

type ErrorClass = (new (message: string, init?: ErrorInit) => CirrusError) & { readonly CODE: string };

function kind<C extends string>(code: C) {
  return class extends CirrusError {
    static readonly CODE: C = code;
    readonly code: C = code;
  };
}

// --- input and configuration ---------------------------------------------------------------------
export class InvalidArgumentError extends kind('INVALID_ARGUMENT') {}
export class InvalidIdError extends kind('INVALID_ID') {}
export class InvalidLimitError extends kind('INVALID_LIMIT') {}
export class UsageError extends kind('USAGE_ERROR') {}

// --- artifacts: loading and validating component binaries ----------------------------------------
export class ArtifactNotFoundError extends kind('ARTIFACT_NOT_FOUND') {}
export class ArtifactFetchFailedError extends kind('ARTIFACT_FETCH_FAILED') {}
export class ArtifactTooLargeError extends kind('ARTIFACT_TOO_LARGE') {}
export class UnsupportedReferenceError extends kind('UNSUPPORTED_REFERENCE') {}
export class FileLoadDeniedError extends kind('FILE_LOAD_DENIED') {}
export class NotWasmError extends kind('NOT_WASM') {}
export class NotAComponentError extends kind('NOT_A_COMPONENT') {}
export class TruncatedWasmError extends kind('TRUNCATED_WASM') {}
export class MalformedComponentError extends kind('MALFORMED_COMPONENT') {}
export class UnsupportedImportError extends kind('UNSUPPORTED_IMPORT') {}
export class ExportNotFoundError extends kind('EXPORT_NOT_FOUND') {}

// --- the component cache: logged as warnings, never fatal ----------------------------------------
export class CacheUnavailableError extends kind('CACHE_UNAVAILABLE') {}
export class CacheEntryDamagedError extends kind('CACHE_ENTRY_DAMAGED') {}

// --- keys and component claims -------------------------------------------------------------------
export class NkeyMalformedError extends kind('NKEY_MALFORMED') {}
export class NkeyWrongTypeError extends kind('NKEY_WRONG_TYPE') {}
export class ClaimsMalformedError extends kind('CLAIMS_MALFORMED') {}
export class ClaimsSignatureInvalidError extends kind('CLAIMS_SIGNATURE_INVALID') {}
export class ClaimsHashMismatchError extends kind('CLAIMS_HASH_MISMATCH') {}
export class ClaimsExpiredError extends kind('CLAIMS_EXPIRED') {}
export class ClaimsNotYetValidError extends kind('CLAIMS_NOT_YET_VALID') {}
export class ClaimsDuplicateSectionError extends kind('CLAIMS_DUPLICATE_SECTION') {}
export class ClaimsRequiredError extends kind('CLAIMS_REQUIRED') {}
export class ClaimsIssuerNotAllowedError extends kind('CLAIMS_ISSUER_NOT_ALLOWED') {}

// --- running components --------------------------------------------------------------------------
export class InstantiationFailedError extends kind('INSTANTIATION_FAILED') {}
export class DeadlineExceededError extends kind('DEADLINE_EXCEEDED') {}
export class GuestTrapError extends kind('GUEST_TRAP') {}
export class AtCapacityError extends kind('AT_CAPACITY') {}
export class InstanceCrashedError extends kind('INSTANCE_CRASHED') {}
export class WorkerStoppedError extends kind('WORKER_STOPPED') {}
export class ComponentStoppedError extends kind('COMPONENT_STOPPED') {}
export class NoResponseError extends kind('NO_RESPONSE') {}
export class ResourceLostError extends kind('RESOURCE_LOST') {}
export class ResourceNotRoutableError extends kind('RESOURCE_NOT_ROUTABLE') {}

// --- host state ----------------------------------------------------------------------------------
export class ComponentNotRunningError extends kind('COMPONENT_NOT_RUNNING') {}
export class ProviderAlreadyRunningError extends kind('PROVIDER_ALREADY_RUNNING') {}
export class ProviderNotRunningError extends kind('PROVIDER_NOT_RUNNING') {}
export class UnknownProviderError extends kind('UNKNOWN_PROVIDER') {}
export class ProviderProcessFailedError extends kind('PROVIDER_PROCESS_FAILED') {}
export class HostDataInvalidError extends kind('HOST_DATA_INVALID') {}
export class LinkConflictError extends kind('LINK_CONFLICT') {}
export class LinkNotFoundError extends kind('LINK_NOT_FOUND') {}
export class ImportFailedError extends kind('IMPORT_FAILED') {}
export class ConfigNotFoundError extends kind('CONFIG_NOT_FOUND') {}
export class InvalidLabelError extends kind('INVALID_LABEL') {}
export class HostStoppedError extends kind('HOST_STOPPED') {}

// --- policy service ------------------------------------------------------------------------------
export class PolicyDeniedError extends kind('POLICY_DENIED') {}
export class PolicyUnavailableError extends kind('POLICY_UNAVAILABLE') {}
export class PolicyReplyInvalidError extends kind('POLICY_REPLY_INVALID') {}

// --- signed invocations --------------------------------------------------------------------------
export class InvocationUnsignedError extends kind('INVOCATION_UNSIGNED') {}
export class InvocationSignatureInvalidError extends kind('INVOCATION_SIGNATURE_INVALID') {}
export class InvocationCredentialInvalidError extends kind('INVOCATION_CREDENTIAL_INVALID') {}
export class InvocationIssuerNotAllowedError extends kind('INVOCATION_ISSUER_NOT_ALLOWED') {}
export class InvocationStaleError extends kind('INVOCATION_STALE') {}
export class InvocationReplayedError extends kind('INVOCATION_REPLAYED') {}
export class InvocationTamperedError extends kind('INVOCATION_TAMPERED') {}

// --- lattice -------------------------------------------------------------------------------------
export class InvalidSubjectError extends kind('INVALID_SUBJECT') {}
export class NoRespondersError extends kind('NO_RESPONDERS') {}
export class RequestTimeoutError extends kind('REQUEST_TIMEOUT') {}
export class PayloadTooLargeError extends kind('PAYLOAD_TOO_LARGE') {}
export class LatticeClosedError extends kind('LATTICE_CLOSED') {}
export class InvalidKeyError extends kind('INVALID_KEY') {}
export class LatticeConnectFailedError extends kind('LATTICE_CONNECT_FAILED') {}
export class LatticeConnectRefusedError extends kind('LATTICE_CONNECT_REFUSED') {}
export class LatticeAuthFailedError extends kind('LATTICE_AUTH_FAILED') {}
export class LatticeTlsFailedError extends kind('LATTICE_TLS_FAILED') {}
export class LatticeCredentialsInvalidError extends kind('LATTICE_CREDENTIALS_INVALID') {}
export class LatticePermissionDeniedError extends kind('LATTICE_PERMISSION_DENIED') {}
export class KvUnavailableError extends kind('KV_UNAVAILABLE') {}

// --- key-value capability provider (wasi:keyvalue) -----------------------------------------------
export class KvNoSuchStoreError extends kind('KV_NO_SUCH_STORE') {}
export class KvAccessDeniedError extends kind('KV_ACCESS_DENIED') {}
export class KvNotAnIntegerError extends kind('KV_NOT_AN_INTEGER') {}
export class KvStoreFullError extends kind('KV_STORE_FULL') {}
export class KvConflictError extends kind('KV_CONFLICT') {}

// --- messaging capability provider (wasmcloud:messaging) -----------------------------------------
export class MessagingSubjectDeniedError extends kind('MESSAGING_SUBJECT_DENIED') {}

// --- blobstore capability provider (wasi:blobstore) ----------------------------------------------
export class BlobstoreInvalidNameError extends kind('BLOBSTORE_INVALID_NAME') {}
export class BlobstoreNotFoundError extends kind('BLOBSTORE_NOT_FOUND') {}
export class BlobstoreAccessDeniedError extends kind('BLOBSTORE_ACCESS_DENIED') {}
export class BlobstoreTooLargeError extends kind('BLOBSTORE_TOO_LARGE') {}
export class BlobstoreIoFailedError extends kind('BLOBSTORE_IO_FAILED') {}

// --- http client capability provider (wasi:http/outgoing-handler) -------------------------------
export class HttpClientDeniedError extends kind('HTTP_CLIENT_DENIED') {}
export class HttpRequestFailedError extends kind('HTTP_REQUEST_FAILED') {}

// --- wRPC values and WIT types ------------------------------------------------------------------
export class WitInvalidError extends kind('WIT_INVALID') {}
export class ComponentTypesInvalidError extends kind('COMPONENT_TYPES_INVALID') {}
export class WrpcEncodeError extends kind('WRPC_ENCODE_FAILED') {}
export class WrpcDecodeError extends kind('WRPC_DECODE_FAILED') {}
export class WrpcCallFailedError extends kind('WRPC_CALL_FAILED') {}
export class WrpcStreamFailedError extends kind('WRPC_STREAM_FAILED') {}
export class WrpcStreamStalledError extends kind('WRPC_STREAM_STALLED') {}
export class WrpcStreamOverflowError extends kind('WRPC_STREAM_OVERFLOW') {}
export class WrpcStreamCancelledError extends kind('WRPC_STREAM_CANCELLED') {}

// --- control clients (cirrus CLI, @cirrus/control-client) ----------------------------------------
export class ControlRequestFailedError extends kind('CONTROL_REQUEST_FAILED') {}
export class ComponentScaleFailedError extends kind('COMPONENT_SCALE_FAILED') {}
export class HostNotFoundError extends kind('HOST_NOT_FOUND') {}
export class AmbiguousHostError extends kind('AMBIGUOUS_HOST') {}
export class NoLatticeError extends kind('NO_LATTICE') {}
export class LocalEndpointUnavailableError extends kind('LOCAL_ENDPOINT_UNAVAILABLE') {}

// --- http server provider ------------------------------------------------------------------------
export class AddressInUseError extends kind('ADDRESS_IN_USE') {}
export class InvalidAddressError extends kind('INVALID_ADDRESS') {}
export class RouteConflictError extends kind('ROUTE_CONFLICT') {}

// --- applications and tooling --------------------------------------------------------------------
export class ManifestParseError extends kind('MANIFEST_PARSE_ERROR') {}
export class ManifestInvalidError extends kind('MANIFEST_INVALID') {}
export class AppNotFoundError extends kind('APP_NOT_FOUND') {}
export class AppRequestFailedError extends kind('APP_REQUEST_FAILED') {}
export class AppFailedError extends kind('APP_FAILED') {}
// --- the dashboard -------------------------------------------------------------------------------
export class DashboardUnauthorizedError extends kind('DASHBOARD_UNAUTHORIZED') {}
export class DashboardForbiddenError extends kind('DASHBOARD_FORBIDDEN') {}
export class DashboardNotFoundError extends kind('DASHBOARD_NOT_FOUND') {}
export class DashboardBusyError extends kind('DASHBOARD_BUSY') {}

export class BuildFailedError extends kind('BUILD_FAILED') {}
export class InsecurePermissionsError extends kind('INSECURE_PERMISSIONS') {}
export class FileExistsError extends kind('FILE_EXISTS') {}
export class DirectoryNotEmptyError extends kind('DIRECTORY_NOT_EMPTY') {}

// --- files a user names --------------------------------------------------------------------------
export class FileNotFoundError extends kind('FILE_NOT_FOUND') {}
export class NotARegularFileError extends kind('NOT_A_REGULAR_FILE') {}
export class FileTooLargeError extends kind('FILE_TOO_LARGE') {}
export class FileUnreadableError extends kind('FILE_UNREADABLE') {}

export const ERROR_CLASSES: readonly ErrorClass[] = [
  InvalidArgumentError,
  InvalidIdError,
  InvalidLimitError,
  UsageError,
  ArtifactNotFoundError,
  ArtifactFetchFailedError,
  ArtifactTooLargeError,
  UnsupportedReferenceError,
  FileLoadDeniedError,
  NotWasmError,
  NotAComponentError,
  TruncatedWasmError,
  MalformedComponentError,
  UnsupportedImportError,
  ExportNotFoundError,
  CacheUnavailableError,
  CacheEntryDamagedError,
  NkeyMalformedError,
  NkeyWrongTypeError,
  ClaimsMalformedError,
  ClaimsSignatureInvalidError,
  ClaimsHashMismatchError,
  ClaimsExpiredError,
  ClaimsNotYetValidError,
  ClaimsDuplicateSectionError,
  ClaimsRequiredError,
  ClaimsIssuerNotAllowedError,
  InstantiationFailedError,
  DeadlineExceededError,
  GuestTrapError,
  AtCapacityError,
  InstanceCrashedError,
  WorkerStoppedError,
  ComponentStoppedError,
  NoResponseError,
  ResourceLostError,
  ResourceNotRoutableError,
  ComponentNotRunningError,
  ProviderAlreadyRunningError,
  ProviderNotRunningError,
  UnknownProviderError,
  ProviderProcessFailedError,
  HostDataInvalidError,
  LinkConflictError,
  LinkNotFoundError,
  ImportFailedError,
  ConfigNotFoundError,
  InvalidLabelError,
  HostStoppedError,
  PolicyDeniedError,
  PolicyUnavailableError,
  PolicyReplyInvalidError,
  InvocationUnsignedError,
  InvocationSignatureInvalidError,
  InvocationCredentialInvalidError,
  InvocationIssuerNotAllowedError,
  InvocationStaleError,
  InvocationReplayedError,
  InvocationTamperedError,
  InvalidSubjectError,
  NoRespondersError,
  RequestTimeoutError,
  PayloadTooLargeError,
  LatticeClosedError,
  InvalidKeyError,
  LatticeConnectFailedError,
  LatticeConnectRefusedError,
  LatticeAuthFailedError,
  LatticeTlsFailedError,
  LatticeCredentialsInvalidError,
  LatticePermissionDeniedError,
  KvUnavailableError,
  KvNoSuchStoreError,
  KvAccessDeniedError,
  KvNotAnIntegerError,
  KvStoreFullError,
  KvConflictError,
  MessagingSubjectDeniedError,
  BlobstoreInvalidNameError,
  BlobstoreNotFoundError,
  BlobstoreAccessDeniedError,
  BlobstoreTooLargeError,
  BlobstoreIoFailedError,
  HttpClientDeniedError,
  HttpRequestFailedError,
  WitInvalidError,
  ComponentTypesInvalidError,
  WrpcEncodeError,
  WrpcDecodeError,
  WrpcCallFailedError,
  WrpcStreamFailedError,
  WrpcStreamStalledError,
  WrpcStreamOverflowError,
  WrpcStreamCancelledError,
  ControlRequestFailedError,
  ComponentScaleFailedError,
  HostNotFoundError,
  AmbiguousHostError,
  NoLatticeError,
  LocalEndpointUnavailableError,
  AddressInUseError,
  InvalidAddressError,
  RouteConflictError,
  ManifestParseError,
  ManifestInvalidError,
  AppNotFoundError,
  AppRequestFailedError,
  AppFailedError,
  DashboardUnauthorizedError,
  DashboardForbiddenError,
  DashboardNotFoundError,
  DashboardBusyError,
  BuildFailedError,
  InsecurePermissionsError,
  FileExistsError,
  DirectoryNotEmptyError,
  FileNotFoundError,
  NotARegularFileError,
  FileTooLargeError,
  FileUnreadableError,
];

export const ERROR_CODES: readonly string[] = ERROR_CLASSES.map((c) => c.CODE);

const byCode = new Map<string, ErrorClass>(ERROR_CLASSES.map((c) => [c.CODE, c]));

/** Rebuilds a typed error from its serialised form; unknown codes become `InstanceCrashedError`. */
export function errorFromJSON(json: ErrorJSON): CirrusError {
  const Class = byCode.get(json.code) ?? InstanceCrashedError;
  const init: ErrorInit = { hint: json.hint, details: json.details };
  return new Class(json.message, init);
}

export function isCirrusError(err: unknown): err is CirrusError {
  return err instanceof CirrusError;
}

/** The serialisable form of any thrown value; errors without a code become `fallback`. */
export function toErrorJSON(err: unknown, fallback: string): ErrorJSON {
  if (err instanceof CirrusError) return err.toJSON();
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
}

/** A short, safe description of any thrown value, for logs and error messages. */
export function describeError(err: unknown): string {
  if (err instanceof CirrusError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
