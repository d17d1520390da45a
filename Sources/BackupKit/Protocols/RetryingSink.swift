import Logging

/// Wraps any ``Sink`` and retries its operations on transient failures, as its ``RetryPolicy`` says
/// (the model is restic's retrying backend). Errors the policy does not retry (not found, access
/// denied, a full disk) come back at once; after the last attempt, its error comes back as it is.
///
/// - ``put(_:from:)`` and ``list()`` are retried as they are: a put is atomic, so a failed one left
///   nothing behind, and a repeated one replaces the key.
/// - ``get(_:into:)`` is retried only while nothing has reached `output` yet: the destination cannot
///   take back bytes, so a transfer that broke halfway fails rather than writing its start twice. (A sink
///   that can resume, such as the S3 sink, does so itself with ranged reads.)
/// - ``preflight()`` is retried as it is: a check that met a timeout or a reset says nothing yet about
///   the sink, and a probe it writes is removed again.
/// - ``delete(_:)`` that finds the key gone on a later attempt counts as done: the earlier attempt
///   deleted it and only its answer was lost.
///
/// ```swift
/// let sink = RetryingSink(MyNASSink(...), policy: RetryPolicy(maxAttempts: 4))
/// ```
public struct RetryingSink: Sink {
    public let base: any Sink
    public let policy: RetryPolicy
    public let logger: Logger

    public init(_ base: any Sink, policy: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "backupkit.sink")) {
        self.base = base
        self.policy = policy
        self.logger = logger
    }

    public var name: String { base.name }
    public var capabilities: SinkCapabilities { base.capabilities }
    public func localPath(of key: String) -> String? { base.localPath(of: key) }

    @discardableResult
    public func put(_ key: String, from file: StagedFile) async throws -> StoreReceipt {
        try await policy.run("sink '\(name)': storing \(key)", logger: logger) { _ in try await base.put(key, from: file) }
    }

    public func get(_ key: String, into output: ByteDestination) async throws {
        let before = output.digest.size
        var retryable = policy
        let isRetryable = policy.isRetryable
        retryable.isRetryable = { error in
            // Bytes already written cannot be taken back: retrying would write them a second time.
            isRetryable(error) && output.digest.size == before
        }
        try await retryable.run("sink '\(name)': reading \(key)", logger: logger) { _ in try await base.get(key, into: output) }
    }

    public func list() async throws -> [StoredObject] {
        try await policy.run("sink '\(name)': listing", logger: logger) { _ in try await base.list() }
    }

    public func preflight() async throws {
        try await policy.run("sink '\(name)': checking it before the run", logger: logger) { _ in try await base.preflight() }
    }

    public func delete(_ key: String) async throws {
        try await policy.run("sink '\(name)': deleting \(key)", logger: logger) { attempt in
            do {
                try await base.delete(key)
            } catch let error as BackupError where error.code == .notFound && attempt > 1 {
                return
            }
        }
    }
}
