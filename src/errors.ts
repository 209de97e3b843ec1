// Error classes thrown by dllm-wasm. Each has a fixed `name` (set explicitly, so bundlers that rename
// classes cannot change it) and a `code` that callers can switch on. Messages name the offending value
// and tell the caller what to do about it.

/** Base class of every error this package throws on purpose. */
export class DllmError extends Error {
  override name = 'DllmError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export type ModelFormatErrorCode =
  | 'INVALID_GGUF'
  | 'INVALID_SAFETENSORS'
  | 'TRUNCATED_FILE'
  | 'UNKNOWN_DTYPE'
  | 'SHAPE_MISMATCH'
  | 'MISSING_TENSOR'
  | 'MISSING_FILE';

/** The bytes of a checkpoint are not what the format requires: bad magic, truncation, bad offsets or shapes. */
export class ModelFormatError extends DllmError {
  override name = 'ModelFormatError';
  declare readonly code: ModelFormatErrorCode;

  constructor(code: ModelFormatErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type UnsupportedModelErrorCode = 'UNSUPPORTED_ARCHITECTURE' | 'UNSUPPORTED_TENSOR' | 'UNSUPPORTED_FEATURE';

/** A well-formed checkpoint that uses an architecture, tensor type or feature the engine does not implement. */
export class UnsupportedModelError extends DllmError {
  override name = 'UnsupportedModelError';
  declare readonly code: UnsupportedModelErrorCode;

  constructor(code: UnsupportedModelErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type ConfigErrorCode = 'MISSING_FIELD' | 'INVALID_OPTION';

/** A model config lacks a required field, or a caller passed an invalid option. */
export class ConfigError extends DllmError {
  override name = 'ConfigError';
  declare readonly code: ConfigErrorCode;

  constructor(code: ConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A model whose weights and caches do not fit in the 4 GiB that wasm32 can address. */
export class ModelTooLargeError extends DllmError {
  override name = 'ModelTooLargeError';
  readonly requiredBytes: number;
  readonly limitBytes: number;

  constructor(requiredBytes: number, limitBytes: number, message: string) {
    super('MODEL_TOO_LARGE', message);
    this.requiredBytes = requiredBytes;
    this.limitBytes = limitBytes;
  }
}

/** A request needs more positions than the model or the allocated KV cache holds. */
export class ContextOverflowError extends DllmError {
  override name = 'ContextOverflowError';
  readonly requested: number;
  readonly limit: number;

  constructor(requested: number, limit: number, message: string) {
    super('CONTEXT_OVERFLOW', message);
    this.requested = requested;
    this.limit = limit;
  }
}

/** A request stopped by its `AbortSignal`. Named 'AbortError' like the DOMException that `fetch` throws. */
export class AbortError extends DllmError {
  override name = 'AbortError';

  constructor(message = 'The operation was aborted.', options?: { cause?: unknown }) {
    super('ABORTED', message, options);
  }
}

/** A worker thread failed to start or threw while running its part of a step. */
export class WorkerError extends DllmError {
  override name = 'WorkerError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('WORKER_FAILED', message, options);
  }
}
