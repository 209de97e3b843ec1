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
  | 'MISSING_FILE'
  | 'FETCH_FAILED'
  | 'NON_FINITE_WEIGHT';

/**
 * The bytes of a checkpoint are not what the format requires: bad magic, truncation, bad offsets or shapes,
 * or a weight that is NaN or infinite.
 */
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

export type ConfigErrorCode = 'MISSING_FIELD' | 'INVALID_OPTION' | 'INVALID_TOKENIZER' | 'INVALID_CHAT_TEMPLATE';

/**
 * A model config lacks a required field, a caller passed an invalid option, or the checkpoint's tokenizer
 * files or chat template cannot be used.
 */
export class ConfigError extends DllmError {
  override name = 'ConfigError';
  declare readonly code: ConfigErrorCode;

  constructor(code: ConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type ModelTooLargeErrorCode = 'MODEL_TOO_LARGE' | 'OUT_OF_MEMORY';

/**
 * A model whose weights and caches do not fit in wasm memory: MODEL_TOO_LARGE when the plan exceeds the
 * 4 GiB that wasm32 addresses, OUT_OF_MEMORY when the runtime refused to allocate a smaller memory.
 */
export class ModelTooLargeError extends DllmError {
  override name = 'ModelTooLargeError';
  declare readonly code: ModelTooLargeErrorCode;
  readonly requiredBytes: number;
  /** The 4 GiB wasm32 limit for MODEL_TOO_LARGE; NaN for OUT_OF_MEMORY, because runtimes do not report their limit. */
  readonly limitBytes: number;

  constructor(
    requiredBytes: number,
    limitBytes: number,
    message: string,
    code: ModelTooLargeErrorCode = 'MODEL_TOO_LARGE',
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
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

/** A request made to a model after `dispose()`, or one still running when `dispose()` was called. */
export class ModelDisposedError extends DllmError {
  override name = 'ModelDisposedError';

  constructor(message = 'The model was disposed; load it again to run it.') {
    super('MODEL_DISPOSED', message);
  }
}

/**
 * A forward produced NaN or infinite values although every weight is finite: activations overflowed
 * float32. The output is not turned into tokens.
 */
export class NumericError extends DllmError {
  override name = 'NumericError';

  constructor(message: string) {
    super('NON_FINITE_OUTPUT', message);
  }
}
